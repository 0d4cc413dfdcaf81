{#- Regular expressions: every engine has them, none spells them alike.
    Patterns passed here stick to the common subset (POSIX classes written
    out as [0-9], [a-z], anchors ^ and $, no look-around, no \d). -#}

{#- True when `expr` matches `pattern` anywhere (anchor the pattern for a full match). -#}
{% macro kairos_regexp_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('kairos_regexp_matches', 'kairos')(expr, pattern)) }}
{%- endmacro %}

{% macro default__kairos_regexp_matches(expr, pattern) -%}
    regexp_like({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__kairos_regexp_matches(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__kairos_regexp_matches(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro bigquery__kairos_regexp_matches(expr, pattern) -%}
    regexp_contains({{ expr }}, r'{{ pattern }}')
{%- endmacro %}

{% macro spark__kairos_regexp_matches(expr, pattern) -%}
    ({{ expr }} rlike '{{ pattern }}')
{%- endmacro %}


{#- Replace every match of `pattern` in `expr` by `replacement` (\1 for groups). -#}
{% macro kairos_regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('kairos_regexp_replace_all', 'kairos')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__kairos_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__kairos_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro postgres__kairos_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro spark__kairos_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement | replace("\\", "$") }}')
{%- endmacro %}

{% macro bigquery__kairos_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, r'{{ pattern }}', r'{{ replacement }}')
{%- endmacro %}
