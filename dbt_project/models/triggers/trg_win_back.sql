{#- Win-back: people whose last order (not cancelled) was between
    params.min_days and params.max_days days ago. Due params.min_days after
    that order; the registry's second step (two weeks later) carries an
    incentive. The occurrence is the last order, so a new order ends it. -#}
{%- set min_days = kairos_scenario_param('win_back', 'min_days') | int -%}
{%- set max_days = kairos_scenario_param('win_back', 'max_days') | int -%}

with

lines as (

    select * from {{ ref('int_order_lines_joined') }}
    where not is_cancelled

),

last_orders as (

    select customer_key, order_id, ordered_at
    from (
        select
            customer_key,
            order_id,
            ordered_at,
            row_number() over (partition by customer_key order by ordered_at desc, order_id desc) as recency_rank
        from (select distinct customer_key, order_id, ordered_at from lines) as orders
    ) as ranked
    where recency_rank = 1

),

favourites as (

    select customer_key, category
    from (
        select
            customer_key,
            category,
            row_number() over (partition by customer_key order by sum(line_total) desc, category) as spend_rank
        from lines
        where category is not null
        group by 1, 2
    ) as ranked
    where spend_rank = 1

),

final as (

    select
        -- trigger contract
        last_orders.customer_key,
        last_orders.order_id as trigger_ref,
        {{ dbt.dateadd('day', min_days, 'last_orders.ordered_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        last_orders.order_id as last_order_id,
        cast({{ dbt.datediff('last_orders.ordered_at', kairos_now(), 'day') }} as integer) as days_since_last_order,
        favourites.category as favourite_category

    from last_orders
    left join favourites
        on last_orders.customer_key = favourites.customer_key
    where last_orders.ordered_at <= {{ dbt.dateadd('day', -min_days, kairos_now()) }}
        and last_orders.ordered_at > {{ dbt.dateadd('day', -max_days, kairos_now()) }}

)

select * from final
