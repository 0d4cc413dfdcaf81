{#- Thank-you after purchase with an upsell: orders (not cancelled) placed
    in the last params.max_age_hours hours. The upsell is the best-ranked
    in-stock product of the order's main category (its most valuable line)
    that the order does not contain. -#}
{%- set max_age_hours = kairos_scenario_param('post_purchase_thank_you', 'max_age_hours') | int -%}

with

lines as (

    select *
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and ordered_at > {{ dbt.dateadd('hour', -max_age_hours, kairos_now()) }}

),

orders as (

    select order_id, customer_key, order_total, ordered_at, category
    from (
        select
            lines.*,
            row_number() over (partition by order_id order by line_total desc, product_id) as value_rank
        from lines
    ) as ranked
    where value_rank = 1

),

offers as (

    select
        orders.order_id,
        ranked.product_id,
        ranked.product_name,
        row_number() over (partition by orders.order_id order by ranked.category_rank) as offer_rank
    from orders
    inner join {{ ref('int_products_ranked') }} as ranked
        on orders.category = ranked.category
        and ranked.is_in_stock
        and ranked.category_rank <= 10
    left join lines
        on orders.order_id = lines.order_id
        and ranked.product_id = lines.product_id
    where lines.order_id is null

),

final as (

    select
        -- trigger contract
        orders.customer_key,
        orders.order_id as trigger_ref,
        orders.ordered_at as triggered_at,
        offers.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        orders.order_id,
        cast(orders.order_total as numeric(18, 2)) as order_total,
        offers.product_name

    from orders
    inner join offers
        on orders.order_id = offers.order_id
        and offers.offer_rank = 1

)

select * from final
