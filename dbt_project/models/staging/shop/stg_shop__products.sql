with

source as (

    select * from {{ ref('base_shop__products') }}
    where reject_reason is null
        and not is_superseded

),

renamed as (

    select
        -- ids
        clean_product_id as product_id,
        clean_sku as sku,

        -- strings
        clean_product_name as product_name,
        clean_category as category,
        clean_brand as brand,

        -- numerics
        list_price_amount as list_price,
        unit_cost_amount as unit_cost,
        replenishment_days_int as replenishment_days,

        -- booleans
        coalesce(is_consumable_flag, false) as is_consumable,

        -- timestamps
        launched_at_ts as launched_at,
        updated_at_ts as updated_at

    from source

)

select * from renamed
