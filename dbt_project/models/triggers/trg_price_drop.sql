{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Price drop: a product whose current price took effect in the last
    params.recent_days days and is at least params.min_drop_pct percent
    below the highest price the person saw on it (product view, wishlist
    add, cart add) in the params.seen_lookback_days days before the change,
    not bought since. One per person: the largest drop. -#}
{%- set recent_days = kairos_scenario_param('price_drop', 'recent_days') | int -%}
{%- set seen_days = kairos_scenario_param('price_drop', 'seen_lookback_days') | int -%}
{%- set min_drop_pct = kairos_scenario_param('price_drop', 'min_drop_pct') -%}

with

changed as (

    select product_id, product_name, current_price, price_effective_at
    from {{ ref('dim_products') }}
    where price_effective_at is not null
        and price_effective_at > {{ dbt.dateadd('day', -recent_days, kairos_now()) }}
        and price_effective_at <= {{ kairos_now() }}

),

seen as (

    select
        events.customer_key,
        changed.product_id,
        max(events.price) as seen_price,
        min(events.event_at) as first_seen_at
    from {{ kairos_trigger_events() }} as events
    inner join changed
        on events.product_id = changed.product_id
        and events.event_at < changed.price_effective_at
        and events.event_at >= {{ dbt.dateadd('day', -seen_days, 'changed.price_effective_at') }}
    where events.customer_key is not null
        and events.price is not null
        and events.event_name in ('product_view', 'wishlist_add', 'add_to_cart')
    group by 1, 2

),

bought as (

    select customer_key, product_id, max(ordered_at) as last_bought_at
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and {{ kairos_in_decision_scope('customer_key') }}
    group by 1, 2

),

drops as (

    select
        seen.customer_key,
        changed.product_id,
        changed.product_name,
        changed.price_effective_at,
        seen.seen_price,
        changed.current_price,
        100.0 * (seen.seen_price - changed.current_price) / seen.seen_price as drop_pct
    from seen
    inner join changed
        on seen.product_id = changed.product_id
    left join bought
        on seen.customer_key = bought.customer_key
        and seen.product_id = bought.product_id
        and bought.last_bought_at >= seen.first_seen_at
    where bought.customer_key is null
        and seen.seen_price > 0
        and changed.current_price <= seen.seen_price * (1 - {{ min_drop_pct }} / 100.0)

),

ranked as (

    select
        drops.*,
        row_number() over (partition by customer_key order by drop_pct desc, product_id) as drop_rank
    from drops

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(['product_id', "'@'", "cast(cast(price_effective_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        price_effective_at as triggered_at,
        product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        product_name,
        cast(seen_price as numeric(18, 2)) as old_price,
        cast(current_price as numeric(18, 2)) as new_price,
        cast(drop_pct as numeric(18, 2)) as drop_pct

    from ranked
    where drop_rank = 1

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
