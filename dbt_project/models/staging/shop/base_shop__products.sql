{#- Every raw catalog row, typed and checked. The PIM exports the whole
    catalog repeatedly: among the valid rows of a product the latest
    updated_at is current, the others are superseded history. -#}
with

source as (

    select * from {{ source('shop', 'products') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key([
            'product_id', 'sku', 'product_name', 'category', 'brand', 'list_price', 'unit_cost',
            'is_consumable', 'replenishment_days', 'launched_at', 'updated_at'
        ]) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,

        -- ids
        {{ kairos_clean_text('product_id') }} as clean_product_id,
        {{ kairos_clean_text('sku') }} as clean_sku,

        -- strings
        {{ kairos_clean_text('product_name') }} as clean_product_name,
        lower({{ kairos_clean_text('category') }}) as clean_category,
        {{ kairos_clean_text('brand') }} as clean_brand,

        -- numerics
        cast(list_price as numeric(18, 2)) as list_price_amount,
        cast(unit_cost as numeric(18, 2)) as unit_cost_amount,
        cast(replenishment_days as integer) as replenishment_days_int,

        -- booleans
        cast(is_consumable as boolean) as is_consumable_flag,

        -- timestamps
        cast(launched_at as {{ dbt.type_timestamp() }}) as launched_at_ts,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at_ts

    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_product_id is null then 'missing_product_id'
            when list_price_amount is null then 'missing_amount'
            when list_price_amount < 0 or unit_cost_amount < 0 then 'negative_amount'
        end as reject_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when reject_reason is null then
                row_number() over (
                    partition by clean_product_id, reject_reason
                    order by updated_at_ts desc, raw_row_key
                )
        end as version_number
    from checked

)

select
    ranked.*,
    coalesce(version_number > 1, false) as is_superseded
from ranked
