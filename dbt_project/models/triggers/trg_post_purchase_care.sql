{#- Post-purchase care: orders delivered in the last params.max_days days
    (status delivered now) that contain products of a category needing care
    or instructions (params.categories). The occurrence is the order; the
    category shown is its most valuable care line's. Step 1 is due a day
    after delivery (registry steps). -#}
{%- set categories = kairos_scenario_param('post_purchase_care', 'categories') -%}
{%- set max_days = kairos_scenario_param('post_purchase_care', 'max_days') | int -%}

with

lines as (

    select *
    from {{ ref('int_order_lines_joined') }}
    where status = 'delivered'
        and delivered_at is not null
        and delivered_at <= {{ kairos_now() }}
        and delivered_at > {{ dbt.dateadd('day', -max_days, kairos_now()) }}
        and category in ({% for c in categories %}'{{ c }}'{{ ', ' if not loop.last }}{% endfor %})

),

orders as (

    select order_id, customer_key, delivered_at, category
    from (
        select
            lines.*,
            row_number() over (partition by order_id order by line_total desc, product_id) as value_rank
        from lines
    ) as ranked
    where value_rank = 1

),

products as (

    select
        order_id,
        {{ dbt.listagg('product_id', "','", 'order by product_id') }} as product_ids
    from (select distinct order_id, product_id from lines) as distinct_lines
    group by 1

),

final as (

    select
        -- trigger contract
        orders.customer_key,
        orders.order_id as trigger_ref,
        orders.delivered_at as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        orders.order_id,
        orders.category,
        products.product_ids

    from orders
    inner join products
        on orders.order_id = products.order_id

)

select * from final
