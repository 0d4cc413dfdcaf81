select
    -- the row as it landed
    product_id,
    price,
    effective_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__price_history') }}
where reject_reason is not null
