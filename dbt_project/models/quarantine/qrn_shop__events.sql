select
    -- the row as it landed
    event_id,
    event_name,
    source,
    anonymous_id,
    customer_id,
    email,
    session_id,
    cart_id,
    product_id,
    quantity,
    price,
    order_id,
    push_token,
    page_url,
    event_ts,
    received_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__events') }}
where reject_reason is not null
