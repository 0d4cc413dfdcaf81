{#- Upsell to a higher variant: a product bought between params.after_days
    and params.max_days days ago, and an in-stock product of the same brand
    and category priced params.min_price_ratio to params.max_price_ratio
    times what was paid, not bought by the person. The variant with the best
    margin wins; one per person (latest purchase). -#}
{%- set after_days = kairos_scenario_param('upsell', 'after_days') | int -%}
{%- set max_days = kairos_scenario_param('upsell', 'max_days') | int -%}
{%- set min_ratio = kairos_scenario_param('upsell', 'min_price_ratio') -%}
{%- set max_ratio = kairos_scenario_param('upsell', 'max_price_ratio') -%}

with

bought as (

    select *
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and unit_price > 0
        and ordered_at <= {{ dbt.dateadd('day', -after_days, kairos_now()) }}
        and ordered_at > {{ dbt.dateadd('day', -max_days, kairos_now()) }}

),

bought_ever as (

    select distinct customer_key, product_id
    from {{ ref('int_order_lines_joined') }}

),

variants as (

    select
        bought.customer_key,
        bought.order_id,
        bought.product_id as bought_product_id,
        bought.ordered_at,
        products.product_id,
        products.product_name,
        products.current_price,
        row_number() over (
            partition by bought.customer_key
            order by bought.ordered_at desc, products.margin_rate desc, products.current_price, products.product_id, bought.product_id
        ) as offer_rank
    from bought
    inner join {{ ref('dim_products') }} as products
        on bought.category = products.category
        and bought.brand = products.brand
        and bought.product_id <> products.product_id
        and products.is_in_stock
        and products.current_price >= bought.unit_price * {{ min_ratio }}
        and products.current_price <= bought.unit_price * {{ max_ratio }}
    left join bought_ever
        on bought.customer_key = bought_ever.customer_key
        and products.product_id = bought_ever.product_id
    where bought_ever.customer_key is null

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(['order_id', "':'", 'bought_product_id']) }} as trigger_ref,
        {{ dbt.dateadd('day', after_days, 'ordered_at') }} as triggered_at,
        product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        bought_product_id,
        product_name,
        cast(current_price as numeric(18, 2)) as price

    from variants
    where offer_rank = 1

)

select * from final
