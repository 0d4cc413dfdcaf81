{#- Lookalike seed: the best customers (revenue at or above the
    params.min_revenue_percentile percentile of all profiles, at least
    params.min_orders orders) as this week's seed audience for paid media.
    One occurrence per person and ISO week (Monday). -#}
{%- set percentile = kairos_scenario_param('lookalike_seed', 'min_revenue_percentile') -%}
{%- set min_orders = kairos_scenario_param('lookalike_seed', 'min_orders') | int -%}

with

customers as (

    select
        customer_key,
        revenue,
        orders_count,
        percent_rank() over (order by revenue) as revenue_percentile
    from {{ ref('dim_customers') }}

),

week as (

    select {{ dbt.date_trunc('week', kairos_now()) }} as week_start

),

final as (

    select
        -- trigger contract
        customers.customer_key,
        {{ dbt.concat(["'week-'", "cast(cast(week.week_start as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        cast(week.week_start as {{ dbt.type_timestamp() }}) as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        cast(customers.revenue as numeric(18, 2)) as revenue,
        cast(customers.orders_count as integer) as orders_count,
        cast(cast(week.week_start as date) as {{ dbt.type_string() }}) as seed_week

    from customers
    cross join week
    where customers.revenue > 0
        and customers.orders_count >= {{ min_orders }}
        and customers.revenue_percentile >= {{ percentile }}

)

select * from final
