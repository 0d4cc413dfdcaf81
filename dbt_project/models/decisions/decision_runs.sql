{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns'
) }}

{#- One row per dbt invocation that completed the decision layer: when it
    started, for which decision time, and whether it decided every customer
    (scope all) or only those in decision_scope (scope changed). The next
    scoped run re-decides the customers whose events were written after the
    latest run_started_at; built last, so a run that failed half-way is not
    recorded and the next one covers its customers too. -#}
{%- set scoped = kairos_scoped_run() %}
-- built after the whole decision layer:
-- depends_on: {{ ref('message_intents') }}
-- depends_on: {{ ref('decision_holdouts') }}
-- depends_on: {{ ref('decision_dropped_series') }}

with

scope as (

    select count(*) as customers_in_scope from {{ ref('decision_scope') }}

),

final as (

    select
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id,
        {{ kairos_run_started_at() }} as run_started_at,
        {{ kairos_now() }} as decided_at,
        cast('{{ "changed" if scoped else "all" }}' as {{ dbt.type_string() }}) as scope,
        cast({% if scoped %}scope.customers_in_scope{% else %}null{% endif %} as integer) as customers_in_scope
    from scope

)

select * from final
