select
    -- the row as it landed
    product_id,
    quantity_on_hand,
    recorded_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__inventory_levels') }}
where reject_reason is not null
