{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The catalog as of kairos_now(): current price (latest price change in
    effect, else the list price), cost, margin and stock (latest snapshot). -#}
with

products as (

    select * from {{ ref('stg_shop__products') }}

),

prices as (

    select
        product_id,
        price,
        effective_at,
        row_number() over (partition by product_id order by effective_at desc) as recency_rank
    from {{ ref('stg_shop__price_history') }}
    where effective_at <= {{ kairos_now() }}

),

stock as (

    select
        product_id,
        quantity_on_hand,
        recorded_at,
        row_number() over (partition by product_id order by recorded_at desc) as recency_rank
    from {{ ref('stg_shop__inventory_levels') }}
    where recorded_at <= {{ kairos_now() }}

),

joined as (

    select
        products.*,
        coalesce(prices.price, products.list_price) as current_price,
        prices.effective_at as price_effective_at,
        stock.quantity_on_hand,
        stock.recorded_at as stock_recorded_at
    from products
    left join prices
        on products.product_id = prices.product_id
        and prices.recency_rank = 1
    left join stock
        on products.product_id = stock.product_id
        and stock.recency_rank = 1

),

final as (

    select
        -- ids
        product_id,
        sku,

        -- strings
        product_name,
        category,
        brand,

        -- numerics
        list_price,
        current_price,
        unit_cost,
        current_price - unit_cost as margin,
        case when current_price > 0 then (current_price - unit_cost) / current_price end as margin_rate,
        quantity_on_hand,
        replenishment_days,

        -- booleans
        is_consumable,
        coalesce(quantity_on_hand, 0) > 0 as is_in_stock,

        -- timestamps
        launched_at,
        price_effective_at,
        stock_recorded_at,
        updated_at

    from joined

)

select * from final
