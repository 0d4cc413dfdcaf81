select
    -- the row as it landed
    product_id,
    sku,
    product_name,
    category,
    brand,
    list_price,
    unit_cost,
    is_consumable,
    replenishment_days,
    launched_at,
    updated_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__products') }}
where reject_reason is not null
