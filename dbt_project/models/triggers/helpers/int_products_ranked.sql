{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The catalog as of kairos_now() with popularity: units sold in the last
    90 days and a rank per category (in-stock products first, then best
    sellers, then product_id). Scenarios that recommend a product pick from
    the top of their category. -#}
with

products as (

    select * from {{ ref('dim_products') }}

),

sales as (

    select
        lines.product_id,
        sum(lines.quantity) as units_sold_90d
    from {{ ref('stg_shop__order_lines') }} as lines
    inner join {{ ref('fct_orders') }} as orders
        on lines.order_id = orders.order_id
    where not orders.is_cancelled
        and orders.ordered_at <= {{ kairos_now() }}
        and orders.ordered_at > {{ dbt.dateadd('day', -90, kairos_now()) }}
    group by 1

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.brand,
        products.current_price,
        products.margin_rate,
        products.is_in_stock,
        coalesce(sales.units_sold_90d, 0) as units_sold_90d,
        row_number() over (
            partition by products.category
            order by
                case when products.is_in_stock then 0 else 1 end,
                coalesce(sales.units_sold_90d, 0) desc,
                products.product_id
        ) as category_rank
    from products
    left join sales
        on products.product_id = sales.product_id
    where products.launched_at is null
        or products.launched_at <= {{ kairos_now() }}

)

select * from final
