with

source as (

    select * from {{ ref('base_shop__order_lines') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        {{ kairos_surrogate_key(['clean_order_id', 'line_number_int']) }} as order_line_id,
        clean_order_id as order_id,
        clean_product_id as product_id,

        -- numerics
        line_number_int as line_number,
        quantity_int as quantity,
        unit_price_amount as unit_price,
        discount_amount_value as discount_amount,
        quantity_int * unit_price_amount - discount_amount_value as line_total

    from source

)

select * from renamed
