with

source as (

    select * from {{ ref('base_shop__inventory_levels') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        {{ kairos_surrogate_key(['clean_product_id', 'recorded_at_ts']) }} as inventory_level_id,
        clean_product_id as product_id,

        -- numerics
        quantity_on_hand_int as quantity_on_hand,

        -- timestamps
        recorded_at_ts as recorded_at

    from source

)

select * from renamed
