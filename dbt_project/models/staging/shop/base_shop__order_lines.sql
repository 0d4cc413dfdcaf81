{#- Every raw order line, typed and checked. -#}
with

source as (

    select * from {{ source('shop', 'order_lines') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key([
            'order_id', 'line_number', 'product_id', 'quantity', 'unit_price', 'discount_amount'
        ]) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,

        -- ids
        {{ kairos_clean_text('order_id') }} as clean_order_id,
        {{ kairos_clean_text('product_id') }} as clean_product_id,

        -- numerics
        cast(line_number as integer) as line_number_int,
        cast(quantity as integer) as quantity_int,
        cast(unit_price as numeric(18, 2)) as unit_price_amount,
        coalesce(cast(discount_amount as numeric(18, 2)), 0) as discount_amount_value

    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_order_id is null then 'missing_order_id'
            when line_number_int is null then 'missing_line_number'
            when clean_product_id is null then 'missing_product_id'
            when quantity_int is null or quantity_int <= 0 then 'non_positive_quantity'
            when unit_price_amount is null or unit_price_amount < 0 then 'negative_amount'
        end as validation_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_order_id, line_number_int, validation_reason
                    order by raw_row_key
                )
        end as copy_number
    from checked

)

select
    ranked.*,
    coalesce(validation_reason, case when copy_number > 1 then 'duplicate' end) as reject_reason,
    false as is_superseded
from ranked
