select
    -- the row as it landed
    order_id,
    customer_id,
    email,
    phone,
    status,
    source,
    store_id,
    currency,
    order_total,
    discount_total,
    ordered_at,
    delivered_at,
    updated_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__orders') }}
where reject_reason is not null
