{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Orders in their current state, one row per order, with the person who
    placed it (customer_key of the customer_id, else of the checkout email,
    else of the checkout phone) and totals, cost of goods and margin from the
    order lines. -#}
with

orders as (

    select * from {{ ref('int_orders_staged') }}

),

lines as (

    select
        order_lines.order_id,
        count(*) as line_count,
        sum(order_lines.quantity) as item_count,
        sum(order_lines.line_total) as lines_total,
        -- cost of goods at the catalog's current unit cost (the PIM keeps no cost history)
        sum(order_lines.quantity * products.unit_cost) as cost_of_goods,
        count(products.unit_cost) = count(*) as is_cost_complete
    from {{ ref('stg_shop__order_lines') }} as order_lines
    left join {{ ref('stg_shop__products') }} as products
        on order_lines.product_id = products.product_id
    group by 1

),

final as (

    select
        -- ids
        orders.order_id,
        coalesce(by_customer_id.customer_key, by_email.customer_key, by_phone.customer_key) as customer_key,
        orders.customer_id,
        orders.store_id,

        -- strings
        orders.email,
        orders.phone,
        orders.status,
        orders.source,
        orders.currency,

        -- numerics
        orders.order_total,
        orders.discount_total,
        coalesce(lines.line_count, 0) as line_count,
        coalesce(lines.item_count, 0) as item_count,
        lines.lines_total,
        lines.cost_of_goods,
        -- gross margin of the order: paid minus cost of goods (null when a product's cost is unknown)
        case when lines.is_cost_complete then orders.order_total - lines.cost_of_goods end as margin,
        case when orders.order_total + orders.discount_total > 0
            then orders.discount_total / (orders.order_total + orders.discount_total)
        end as discount_rate,

        -- booleans
        orders.is_revenue,
        orders.status = 'cancelled' as is_cancelled,
        orders.discount_total > 0 as is_discounted,

        -- timestamps
        orders.ordered_at,
        orders.delivered_at,
        orders.updated_at

    from orders
    left join lines
        on orders.order_id = lines.order_id
    left join {{ ref('int_identities_stitched') }} as by_customer_id
        on by_customer_id.identifier_type = 'customer_id'
        and orders.customer_id = by_customer_id.identifier_value
    left join {{ ref('int_identities_stitched') }} as by_email
        on by_email.identifier_type = 'email'
        and orders.email = by_email.identifier_value
    left join {{ ref('int_identities_stitched') }} as by_phone
        on by_phone.identifier_type = 'phone'
        and orders.phone = by_phone.identifier_value

)

select * from final
