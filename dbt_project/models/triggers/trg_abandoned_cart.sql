{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Abandoned carts as of kairos_now(), one row per cart.

    A cart is a cart_id seen on an add_to_cart event. It is abandoned when
    - its last cart activity (add, remove, checkout started) is at least
      kairos__abandoned_cart_idle_minutes old and less than
      kairos__abandoned_cart_max_age_hours old,
    - it still holds items (adds minus removes),
    - no order_completed event names the cart, and
    - the same person (customer_key) placed no order at or after the cart's
      last activity (an order in fct_orders or an order_completed event).
    Only carts of identified people (customer_key) qualify.
    triggered_at is the moment the cart became abandoned (last activity +
    idle time): stable across runs, unlike the run time.

    Trigger contract (see the scenario registry): trigger_ref is the cart,
    product_id the cart's most valuable line (the product the reminder shows
    first; stock is checked at decision time), margin_rate the cart's margin
    at current cost (for the incentive step). -#}
{%- set idle_minutes = var('kairos__abandoned_cart_idle_minutes') | int -%}
{%- set max_age_hours = var('kairos__abandoned_cart_max_age_hours') | int -%}

with

events as (

    select * from {{ kairos_trigger_events() }}
    where event_at <= {{ kairos_now() }}

),

cart_events as (

    select *
    from events
    where cart_id is not null
        and event_name in ('add_to_cart', 'remove_from_cart', 'checkout_started')

),

carts as (

    select
        cart_id,
        min(event_at) as created_at,
        max(event_at) as last_activity_at
    from cart_events
    group by 1
    -- a cart is born by an add_to_cart; only carts idle long enough and not too old
    having sum(case when event_name = 'add_to_cart' then 1 else 0 end) > 0
        and max(event_at) <= {{ dbt.dateadd('minute', -idle_minutes, kairos_now()) }}
        and max(event_at) > {{ dbt.dateadd('hour', -max_age_hours, kairos_now()) }}

),

cart_owners as (

    select cart_id, customer_key
    from (
        select
            cart_id,
            customer_key,
            row_number() over (partition by cart_id order by event_at desc, event_id) as recency_rank
        from cart_events
        where customer_key is not null
    ) as ranked
    where recency_rank = 1

),

cart_lines as (

    select
        cart_id,
        product_id,
        sum(
            case
                when event_name = 'add_to_cart' then coalesce(quantity, 1)
                when event_name = 'remove_from_cart' then -coalesce(quantity, 1)
                else 0
            end
        ) as quantity,
        max(case when price_rank = 1 then price end) as unit_price
    from (
        select
            cart_events.*,
            row_number() over (
                partition by cart_id, product_id
                order by case when event_name = 'add_to_cart' and price is not null then 0 else 1 end, event_at desc, event_id
            ) as price_rank
        from cart_events
        where product_id is not null
    ) as priced
    group by 1, 2

),

cart_contents as (

    select
        cart_lines.cart_id,
        sum(cart_lines.quantity) as item_count,
        sum(cart_lines.quantity * cart_lines.unit_price) as cart_value,
        sum(cart_lines.quantity * (cart_lines.unit_price - products.unit_cost)) as cart_margin,
        {{ dbt.listagg('cart_lines.product_id', "','", 'order by cart_lines.product_id') }} as product_ids
    from cart_lines
    left join {{ ref('dim_products') }} as products
        on cart_lines.product_id = products.product_id
    where cart_lines.quantity > 0
    group by 1

),

hero_lines as (

    select cart_id, product_id
    from (
        select
            cart_id,
            product_id,
            row_number() over (
                partition by cart_id
                order by coalesce(quantity * unit_price, 0) desc, product_id
            ) as value_rank
        from cart_lines
        where quantity > 0
    ) as ranked
    where value_rank = 1

),

completed_carts as (

    select cart_id, count(*) as completions
    from events
    where event_name = 'order_completed'
        and cart_id is not null
    group by 1

),

-- the person's latest purchase (an order, or an order_completed event)
latest_purchases as (

    select customer_key, max(purchased_at) as last_purchased_at
    from (
        select customer_key, ordered_at as purchased_at
        from {{ ref('fct_orders') }}
        where customer_key is not null
            and ordered_at <= {{ kairos_now() }}
            and {{ kairos_in_decision_scope('customer_key') }}
        union all
        select customer_key, event_at
        from events
        where event_name = 'order_completed'
            and customer_key is not null
    ) as purchases
    group by 1

),

candidates as (

    select
        carts.cart_id,
        cart_owners.customer_key,
        carts.created_at,
        carts.last_activity_at,
        cart_contents.item_count,
        cart_contents.cart_value,
        cart_contents.cart_margin,
        cart_contents.product_ids,
        hero_lines.product_id as hero_product_id
    from carts
    inner join cart_owners
        on carts.cart_id = cart_owners.cart_id
    inner join cart_contents
        on carts.cart_id = cart_contents.cart_id
    left join hero_lines
        on carts.cart_id = hero_lines.cart_id
    left join completed_carts
        on carts.cart_id = completed_carts.cart_id
    left join latest_purchases
        on cart_owners.customer_key = latest_purchases.customer_key
    where completed_carts.cart_id is null
        and (
            latest_purchases.last_purchased_at is null
            or latest_purchases.last_purchased_at < carts.last_activity_at
        )

),

final as (

    select
        -- ids
        candidates.customer_key,
        candidates.cart_id,
        candidates.cart_id as trigger_ref,
        candidates.hero_product_id as product_id,

        -- cart
        cast(candidates.cart_value as numeric(18, 2)) as cart_value,
        cast(
            case when candidates.cart_value > 0 then candidates.cart_margin / candidates.cart_value end
            as numeric(18, 4)
        ) as margin_rate,
        cast(candidates.item_count as integer) as item_count,
        candidates.product_ids,

        -- timestamps
        candidates.created_at as cart_created_at,
        candidates.last_activity_at,
        {{ dbt.dateadd('minute', idle_minutes, 'candidates.last_activity_at') }} as triggered_at

    from candidates

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
