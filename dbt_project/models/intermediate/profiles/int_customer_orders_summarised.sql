{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Order history per person as of kairos_now(): counts, revenue, margin,
    discounts and the days since the first and last order. Cancelled orders
    are not orders; returned orders are orders but bring no revenue. -#}
with

orders as (

    select *
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and ordered_at <= {{ kairos_now() }}

),

summarised as (

    select
        customer_key,
        sum(case when not is_cancelled then 1 else 0 end) as orders_count,
        sum(case when is_revenue then 1 else 0 end) as revenue_orders_count,
        sum(case when status = 'returned' then 1 else 0 end) as returned_orders_count,
        coalesce(sum(case when is_revenue then order_total end), 0) as revenue,
        coalesce(sum(case when is_revenue then margin end), 0) as margin,
        coalesce(sum(case when is_revenue then item_count end), 0) as items_purchased,
        sum(case when is_revenue and is_discounted then 1 else 0 end) as discounted_orders_count,
        coalesce(sum(case when is_revenue then discount_total end), 0) as discount_total,
        min(case when not is_cancelled then ordered_at end) as first_order_at,
        max(case when not is_cancelled then ordered_at end) as last_order_at
    from orders
    group by 1

)

select
    summarised.*,
    {{ dbt.datediff('first_order_at', kairos_now(), 'day') }} as days_since_first_order,
    {{ dbt.datediff('last_order_at', kairos_now(), 'day') }} as days_since_last_order
from summarised
