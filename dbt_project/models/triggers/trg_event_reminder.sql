{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Store event invitation, reminder and follow-up. Events come from the
    seed store_events (a recurring schedule per store: every every_weeks
    weeks from anchor_date at start_hour_local in the store's zone); the
    raw contract has no event system. The audience is the people living in
    the store's city who ordered or viewed the event's category in the last
    params.interest_lookback_days days. Step 1 is due
    params.invite_hours_before hours before the start (the registry's steps
    then remind and follow up); an occurrence stays open until two days
    after the start. -#}
{%- set hours_before = kairos_scenario_param('event_reminder', 'invite_hours_before') | int -%}
{%- set lookback_days = kairos_scenario_param('event_reminder', 'interest_lookback_days') | int -%}

with

series as (

    select
        *,
        cast(floor({{ dbt.datediff('anchor_date', kairos_now(), 'day') }} / (7.0 * every_weeks)) as integer) as cycles_since_anchor
    from {{ ref('store_events') }}

),

occurrences as (

    select
        series.series_id,
        series.store_id,
        series.city,
        series.time_zone,
        series.title,
        series.category,
        {{ kairos_local_to_utc(
            dbt.dateadd('hour', 'series.start_hour_local', dbt.dateadd('day', '(series.cycles_since_anchor + offsets.k) * 7 * series.every_weeks', 'cast(series.anchor_date as ' ~ dbt.type_timestamp() ~ ')')),
            'series.time_zone'
        ) }} as starts_at
    from series
    cross join (select 0 as k union all select 1 union all select -1) as offsets

),

open_occurrences as (

    select
        occurrences.*,
        {{ dbt.concat(['series_id', "'@'", "cast(cast(starts_at as date) as " ~ dbt.type_string() ~ ")"]) }} as event_id
    from occurrences
    where {{ dbt.dateadd('hour', -hours_before, 'starts_at') }} <= {{ kairos_now() }}
        and {{ dbt.dateadd('hour', 48, 'starts_at') }} > {{ kairos_now() }}

),

interested as (

    select distinct customer_key, category
    from (
        select customer_key, category
        from {{ ref('int_order_lines_joined') }}
        where ordered_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }}
            and {{ kairos_in_decision_scope('customer_key') }}
        union all
        select events.customer_key, products.category
        from {{ kairos_trigger_events() }} as events
        inner join {{ ref('dim_products') }} as products
            on events.product_id = products.product_id
        where events.customer_key is not null
            and events.event_name = 'product_view'
            and events.event_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }}
            and events.event_at <= {{ kairos_now() }}
    ) as signals

),

final as (

    select
        -- trigger contract
        customers.customer_key,
        open_occurrences.event_id as trigger_ref,
        {{ dbt.dateadd('hour', -hours_before, 'open_occurrences.starts_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        open_occurrences.event_id,
        open_occurrences.title as event_title,
        open_occurrences.store_id,
        open_occurrences.starts_at

    from open_occurrences
    inner join {{ ref('dim_customers') }} as customers
        on open_occurrences.city = customers.city
    inner join interested
        on customers.customer_key = interested.customer_key
        and open_occurrences.category = interested.category

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
