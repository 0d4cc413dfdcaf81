{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Category affinity per person as of kairos_now(): one row per person and
    category with a score from what they bought (units of revenue orders,
    weight 3), put in a cart (2), wishlisted (2) and viewed (1), and the
    category's rank for the person (1 = top category; ties: more units
    bought, then the category name). -#}
with

products as (

    select product_id, category from {{ ref('stg_shop__products') }}

),

purchases as (

    select orders.customer_key, products.category, sum(order_lines.quantity) as units
    from {{ ref('fct_orders') }} as orders
    inner join {{ ref('stg_shop__order_lines') }} as order_lines
        on orders.order_id = order_lines.order_id
    inner join products
        on order_lines.product_id = products.product_id
    where orders.customer_key is not null
        and orders.is_revenue
        and orders.ordered_at <= {{ kairos_now() }}
    group by 1, 2

),

interest as (

    select
        events.customer_key,
        products.category,
        sum(case when events.event_name = 'product_view' then 1 else 0 end) as views,
        sum(case when events.event_name = 'add_to_cart' then 1 else 0 end) as cart_adds,
        sum(case when events.event_name = 'wishlist_add' then 1 else 0 end) as wishlist_adds
    from {{ ref('fct_events') }} as events
    inner join products
        on events.product_id = products.product_id
    where events.customer_key is not null
        and events.event_name in ('product_view', 'add_to_cart', 'wishlist_add')
        and events.event_at <= {{ kairos_now() }}
    group by 1, 2

),

combined as (

    select
        coalesce(purchases.customer_key, interest.customer_key) as customer_key,
        coalesce(purchases.category, interest.category) as category,
        coalesce(purchases.units, 0) as units_bought,
        coalesce(interest.views, 0) as views,
        coalesce(interest.cart_adds, 0) as cart_adds,
        coalesce(interest.wishlist_adds, 0) as wishlist_adds
    from purchases
    full outer join interest
        on purchases.customer_key = interest.customer_key
        and purchases.category = interest.category

),

scored as (

    select
        combined.*,
        3 * units_bought + 2 * cart_adds + 2 * wishlist_adds + views as affinity_score
    from combined

)

select
    {{ kairos_surrogate_key(['customer_key', 'category']) }} as customer_category_id,
    scored.*,
    row_number() over (
        partition by customer_key
        order by affinity_score desc, units_bought desc, category
    ) as category_rank
from scored
