{#- Cross-sell timed by the product's purchase cycle: after a purchase, a
    product of the complementary category (seed category_affinities) that
    the person never bought, best-ranked in stock. Due half the bought
    product's replenishment cycle after the order (at least
    params.min_delay_days; params.default_delay_days for products without a
    cycle) and for params.window_days after that. One per person: the
    latest qualifying purchase (its most valuable line). -#}
{%- set default_delay = kairos_scenario_param('cross_sell', 'default_delay_days') | int -%}
{%- set min_delay = kairos_scenario_param('cross_sell', 'min_delay_days') | int -%}
{%- set window_days = kairos_scenario_param('cross_sell', 'window_days') | int -%}

with

lines as (

    select
        *,
        greatest(
            {{ min_delay }},
            coalesce(cast(floor(replenishment_days / 2.0) as integer), {{ default_delay }})
        ) as delay_days
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled

),

due as (

    select
        lines.*,
        {{ dbt.dateadd('day', 'lines.delay_days', 'lines.ordered_at') }} as due_at
    from lines
    where {{ dbt.dateadd('day', 'lines.delay_days', 'lines.ordered_at') }} <= {{ kairos_now() }}
        and {{ dbt.dateadd('day', 'lines.delay_days + ' ~ window_days, 'lines.ordered_at') }} > {{ kairos_now() }}

),

latest as (

    select *
    from (
        select
            due.*,
            row_number() over (
                partition by customer_key
                order by ordered_at desc, line_total desc, product_id
            ) as purchase_rank
        from due
    ) as ranked
    where purchase_rank = 1

),

bought_ever as (

    select distinct customer_key, product_id
    from {{ ref('int_order_lines_joined') }}

),

offers as (

    select
        latest.customer_key,
        ranked.product_id,
        ranked.product_name,
        ranked.category,
        row_number() over (partition by latest.customer_key order by ranked.category_rank) as offer_rank
    from latest
    inner join {{ ref('category_affinities') }} as affinities
        on latest.category = affinities.category
    inner join {{ ref('int_products_ranked') }} as ranked
        on affinities.complementary_category = ranked.category
        and ranked.is_in_stock
        and ranked.category_rank <= 20
    left join bought_ever
        on latest.customer_key = bought_ever.customer_key
        and ranked.product_id = bought_ever.product_id
    where bought_ever.customer_key is null

),

final as (

    select
        -- trigger contract
        latest.customer_key,
        latest.order_id as trigger_ref,
        latest.due_at as triggered_at,
        offers.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        latest.order_id,
        latest.product_id as bought_product_id,
        offers.product_name,
        offers.category

    from latest
    inner join offers
        on latest.customer_key = offers.customer_key
        and offers.offer_rank = 1

)

select * from final
