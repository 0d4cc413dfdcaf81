with

source as (

    select * from {{ ref('base_shop__price_history') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        {{ kairos_surrogate_key(['clean_product_id', 'effective_at_ts']) }} as price_change_id,
        clean_product_id as product_id,

        -- numerics
        price_amount as price,

        -- timestamps
        effective_at_ts as effective_at

    from source

)

select * from renamed
