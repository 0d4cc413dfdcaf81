{#- A post-hook that refreshes planner statistics of the table just built.
    PostgreSQL plans joins from statistics that a freshly created table does
    not have yet (autovacuum comes later); without them it guesses a handful
    of rows and picks nested loops that turn seconds into minutes. Engines
    without the need get no statement (empty hooks are skipped).
    Use: {{ config(post_hook="{{ kairos_analyze() }}") }} on tables that
    other models join. -#}
{% macro kairos_analyze() -%}
    {{ return(adapter.dispatch('kairos_analyze', 'kairos')()) }}
{%- endmacro %}

{% macro default__kairos_analyze() -%}
{%- endmacro %}

{% macro postgres__kairos_analyze() -%}
    analyze {{ this }}
{%- endmacro %}
