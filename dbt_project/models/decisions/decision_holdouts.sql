{{ config(
    materialized='incremental',
    unique_key='holdout_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

{#- Holdout assignments, kept across runs for lift measurement: one row per
    customer and marketing scenario whose candidate ever reached the holdout
    rule, with the group (global_control, scenario_holdout, treatment), the
    hash buckets behind it and when the customer first and last entered the
    scenario's audience. The assignment is a pure function of the customer,
    the scenario and the registry's salt and shares, so it is the same on
    every run and engine; this table records who was in the audience when.
    Compare orders of treatment and holdout members after first_assigned_at
    to measure incremental lift. -#}
with

reached as (

    select
        {{ kairos_surrogate_key(['customer_key', 'scenario_id']) }} as holdout_id,
        customer_key,
        scenario_id,
        max(holdout_group) as holdout_group,
        max(global_bucket) as global_bucket,
        max(scenario_bucket) as scenario_bucket,
        max(holdout_share) as holdout_share,
        min(trigger_ref) as trigger_ref,
        max(decided_at) as decided_at
    from {{ ref('decision_log') }}
    where holdout_group is not null
        -- a scoped run re-decided only these customers
        and {{ kairos_in_decision_scope('customer_key') }}
    group by 1, 2, 3

),

{% if is_incremental() %}
previous as (

    select holdout_id, first_assigned_at, first_trigger_ref, runs_in_audience
    from {{ this }}

),
{% endif %}

final as (

    select
        reached.holdout_id,
        reached.customer_key,
        reached.scenario_id,
        reached.holdout_group,
        cast(reached.global_bucket as integer) as global_bucket,
        cast(reached.scenario_bucket as integer) as scenario_bucket,
        cast(reached.holdout_share as numeric(6, 4)) as holdout_share,
        {% if is_incremental() -%}
        coalesce(previous.first_assigned_at, reached.decided_at) as first_assigned_at,
        coalesce(previous.first_trigger_ref, reached.trigger_ref) as first_trigger_ref,
        cast(coalesce(previous.runs_in_audience, 0) + 1 as integer) as runs_in_audience,
        {%- else -%}
        reached.decided_at as first_assigned_at,
        reached.trigger_ref as first_trigger_ref,
        cast(1 as integer) as runs_in_audience,
        {%- endif %}
        reached.decided_at as last_assigned_at,
        reached.trigger_ref as last_trigger_ref
    from reached
    {% if is_incremental() -%}
    left join previous
        on reached.holdout_id = previous.holdout_id
    {%- endif %}

)

select * from final
