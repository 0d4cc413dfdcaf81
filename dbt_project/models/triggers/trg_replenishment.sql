{#- Replenishment: a consumable a person buys runs out. The cycle is the
    person's own (median days between their purchase days of the product,
    when they bought it on two or more days: robust to a skipped or an
    extra purchase), else the product's replenishment_days. Due
    params.lead_days before the cycle ends after the last purchase, for
    params.grace_days after it ends; a later purchase of the product ends
    it. One product per person: habits (two or more purchase days) first,
    then the earliest due. -#}
{%- set lead_days = kairos_scenario_param('replenishment', 'lead_days') | int -%}
{%- set grace_days = kairos_scenario_param('replenishment', 'grace_days') | int -%}

with

purchases as (

    select
        customer_key,
        product_id,
        product_name,
        replenishment_days,
        order_id,
        ordered_at
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and is_consumable

),

purchase_days as (

    select distinct customer_key, product_id, cast(ordered_at as date) as purchased_on
    from purchases

),

gaps as (

    select
        customer_key,
        product_id,
        {{ dbt.datediff(
            'lag(purchased_on) over (partition by customer_key, product_id order by purchased_on)',
            'purchased_on',
            'day'
        ) }} as gap_days
    from purchase_days

),

own_cycles as (

    select
        customer_key,
        product_id,
        percentile_cont(0.5) within group (order by gap_days) as median_gap_days
    from gaps
    where gap_days is not null
    group by 1, 2

),

histories as (

    select
        customer_key,
        product_id,
        max(product_name) as product_name,
        max(replenishment_days) as replenishment_days,
        count(distinct cast(ordered_at as date)) as purchase_days,
        max(ordered_at) as last_ordered_at
    from purchases
    group by 1, 2

),

last_orders as (

    select customer_key, product_id, order_id
    from (
        select
            purchases.*,
            row_number() over (partition by customer_key, product_id order by ordered_at desc, order_id) as recency_rank
        from purchases
    ) as ranked
    where recency_rank = 1

),

cycles as (

    select
        histories.*,
        cast(round(coalesce(own_cycles.median_gap_days, histories.replenishment_days)) as integer) as cycle_days
    from histories
    left join own_cycles
        on histories.customer_key = own_cycles.customer_key
        and histories.product_id = own_cycles.product_id

),

due as (

    select
        cycles.*,
        {{ dbt.dateadd('day', 'cycles.cycle_days - ' ~ lead_days, 'cycles.last_ordered_at') }} as due_at
    from cycles
    where cycles.cycle_days > {{ lead_days }}
        and {{ dbt.dateadd('day', 'cycles.cycle_days - ' ~ lead_days, 'cycles.last_ordered_at') }} <= {{ kairos_now() }}
        and {{ dbt.dateadd('day', 'cycles.cycle_days + ' ~ grace_days, 'cycles.last_ordered_at') }} > {{ kairos_now() }}

),

ranked as (

    select
        due.*,
        row_number() over (
            partition by customer_key
            order by case when purchase_days >= 2 then 0 else 1 end, due_at, product_id
        ) as product_rank
    from due

),

final as (

    select
        -- trigger contract
        ranked.customer_key,
        {{ dbt.concat(['ranked.product_id', "'@'", 'last_orders.order_id']) }} as trigger_ref,
        ranked.due_at as triggered_at,
        ranked.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        ranked.product_name,
        ranked.cycle_days,
        ranked.last_ordered_at,

        -- context
        cast(ranked.purchase_days as integer) as purchase_days

    from ranked
    inner join last_orders
        on ranked.customer_key = last_orders.customer_key
        and ranked.product_id = last_orders.product_id
    where ranked.product_rank = 1

)

select * from final
