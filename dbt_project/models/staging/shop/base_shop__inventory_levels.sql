{#- Every raw stock snapshot, typed and checked. -#}
with

source as (

    select * from {{ source('shop', 'inventory_levels') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key(['product_id', 'quantity_on_hand', 'recorded_at']) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,
        {{ kairos_clean_text('product_id') }} as clean_product_id,
        cast(quantity_on_hand as integer) as quantity_on_hand_int,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at_ts
    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_product_id is null then 'missing_product_id'
            when recorded_at_ts is null then 'missing_timestamp'
            when quantity_on_hand_int is null then 'missing_quantity'
            when quantity_on_hand_int < 0 then 'negative_quantity'
        end as validation_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_product_id, recorded_at_ts, validation_reason
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
