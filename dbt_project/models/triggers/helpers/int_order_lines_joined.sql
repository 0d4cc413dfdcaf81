{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Order lines of identified people with their order's state and the
    product's catalog attributes (as of kairos_now()): the purchase history
    the post-purchase, replenishment and subscription scenarios read. Orders
    placed after kairos_now() are left out (replays see the past). -#}
with

orders as (

    select *
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and ordered_at <= {{ kairos_now() }}

),

lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        -- ids
        lines.order_line_id,
        lines.order_id,
        orders.customer_key,
        lines.product_id,

        -- product
        products.product_name,
        products.category,
        products.brand,
        coalesce(products.is_consumable, false) as is_consumable,
        products.replenishment_days,
        products.unit_cost,

        -- numerics
        lines.quantity,
        lines.unit_price,
        lines.line_total,

        -- order state
        orders.status,
        orders.is_cancelled,
        orders.is_revenue,
        orders.order_total,

        -- timestamps
        orders.ordered_at,
        orders.delivered_at

    from lines
    inner join orders
        on lines.order_id = orders.order_id
    left join products
        on lines.product_id = products.product_id

)

select * from final
