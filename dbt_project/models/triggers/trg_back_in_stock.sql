{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Back in stock (watchdog): a product in stock now that came back within
    the last params.restock_days days (first snapshot with stock after its
    latest snapshot without), and people who wanted it - wishlisted or
    carted it, or viewed it at least twice, in the params.want_lookback_days
    days before it came back - and have not bought it since. One occurrence
    per person and restock. -#}
{%- set restock_days = kairos_scenario_param('back_in_stock', 'restock_days') | int -%}
{%- set want_days = kairos_scenario_param('back_in_stock', 'want_lookback_days') | int -%}

with

snapshots as (

    select product_id, quantity_on_hand, recorded_at
    from {{ ref('stg_shop__inventory_levels') }}
    where recorded_at <= {{ kairos_now() }}

),

last_outages as (

    select product_id, max(recorded_at) as last_out_at
    from snapshots
    where quantity_on_hand <= 0
    group by 1

),

restocks as (

    select
        last_outages.product_id,
        last_outages.last_out_at,
        min(snapshots.recorded_at) as restocked_at
    from last_outages
    inner join snapshots
        on last_outages.product_id = snapshots.product_id
        and snapshots.recorded_at > last_outages.last_out_at
        and snapshots.quantity_on_hand > 0
    group by 1, 2

),

recent_restocks as (

    select restocks.*, products.product_name, products.current_price
    from restocks
    inner join {{ ref('dim_products') }} as products
        on restocks.product_id = products.product_id
    where products.is_in_stock
        and restocks.restocked_at > {{ dbt.dateadd('day', -restock_days, kairos_now()) }}

),

wants as (

    select
        events.customer_key,
        recent_restocks.product_id,
        min(events.event_at) as first_wanted_at,
        sum(case when events.event_name = 'product_view' then 1 else 0 end) as views,
        sum(case when events.event_name <> 'product_view' then 1 else 0 end) as wishes
    from {{ kairos_trigger_events() }} as events
    inner join recent_restocks
        on events.product_id = recent_restocks.product_id
        and events.event_at < recent_restocks.restocked_at
        and events.event_at >= {{ dbt.dateadd('day', -want_days, 'recent_restocks.restocked_at') }}
    where events.customer_key is not null
        and events.event_name in ('product_view', 'wishlist_add', 'add_to_cart')
    group by 1, 2
    having sum(case when events.event_name <> 'product_view' then 1 else 0 end) > 0
        or sum(case when events.event_name = 'product_view' then 1 else 0 end) >= 2

),

bought as (

    select customer_key, product_id, max(ordered_at) as last_bought_at
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and {{ kairos_in_decision_scope('customer_key') }}
    group by 1, 2

),

final as (

    select
        -- trigger contract
        wants.customer_key,
        {{ dbt.concat(['wants.product_id', "'@'", "cast(cast(recent_restocks.restocked_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        recent_restocks.restocked_at as triggered_at,
        wants.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        recent_restocks.product_name,
        cast(recent_restocks.current_price as numeric(18, 2)) as price,
        recent_restocks.restocked_at

    from wants
    inner join recent_restocks
        on wants.product_id = recent_restocks.product_id
    left join bought
        on wants.customer_key = bought.customer_key
        and wants.product_id = bought.product_id
        and bought.last_bought_at >= wants.first_wanted_at
    where bought.customer_key is null

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
