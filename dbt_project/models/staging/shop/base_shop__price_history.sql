{#- Every raw price change, typed and checked. -#}
with

source as (

    select * from {{ source('shop', 'price_history') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key(['product_id', 'price', 'effective_at']) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,
        {{ kairos_clean_text('product_id') }} as clean_product_id,
        cast(price as numeric(18, 2)) as price_amount,
        cast(effective_at as {{ dbt.type_timestamp() }}) as effective_at_ts
    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_product_id is null then 'missing_product_id'
            when effective_at_ts is null then 'missing_timestamp'
            when price_amount is null then 'missing_amount'
            when price_amount < 0 then 'negative_amount'
        end as validation_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_product_id, effective_at_ts, validation_reason
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
