{#- Review request: orders whose current status is delivered (not returned
    or cancelled), delivered between params.max_days and params.after_days
    days ago. Due params.after_days after delivery. -#}
{%- set after_days = kairos_scenario_param('review_request', 'after_days') | int -%}
{%- set max_days = kairos_scenario_param('review_request', 'max_days') | int -%}

with

orders as (

    select order_id, customer_key, delivered_at
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and status = 'delivered'
        and delivered_at is not null
        and delivered_at <= {{ dbt.dateadd('day', -after_days, kairos_now()) }}
        and delivered_at > {{ dbt.dateadd('day', -max_days, kairos_now()) }}

),

products as (

    select
        order_id,
        {{ dbt.listagg('product_id', "','", 'order by product_id') }} as product_ids
    from (select distinct order_id, product_id from {{ ref('int_order_lines_joined') }}) as lines
    group by 1

),

final as (

    select
        -- trigger contract
        orders.customer_key,
        orders.order_id as trigger_ref,
        {{ dbt.dateadd('day', after_days, 'orders.delivered_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        orders.order_id,
        coalesce(products.product_ids, '') as product_ids,
        orders.delivered_at

    from orders
    left join products
        on orders.order_id = products.order_id

)

select * from final
