{{ config(
    materialized='incremental',
    unique_key='series_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

{#- Memory of arbitration drops: occurrences (series) of scenarios declared
    on_conflict: drop that lost an arbitration. decision_guards reads this
    table directly (not through ref, which would make a cycle) so a dropped
    series is not tried again in later runs (rule dropped_earlier). The
    first drop time is kept. -#}
with

dropped_now as (

    select series_id, customer_key, scenario_id, trigger_ref, decided_at as dropped_at
    from {{ ref('decision_log') }}
    where stopped_by = 'arbitration_drop'
        -- a scoped run re-decided only these customers
        and {{ kairos_in_decision_scope('customer_key') }}

),

{% if is_incremental() %}
previous as (

    select series_id, dropped_at from {{ this }}

),
{% endif %}

final as (

    select
        dropped_now.series_id,
        dropped_now.customer_key,
        dropped_now.scenario_id,
        dropped_now.trigger_ref,
        {% if is_incremental() -%}
        coalesce(previous.dropped_at, dropped_now.dropped_at)
        {%- else -%}
        dropped_now.dropped_at
        {%- endif %} as dropped_at
    from dropped_now
    {% if is_incremental() -%}
    left join previous
        on dropped_now.series_id = previous.series_id
    {%- endif %}

)

select * from final
