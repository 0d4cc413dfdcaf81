select
    -- the row as it landed
    order_id,
    line_number,
    product_id,
    quantity,
    unit_price,
    discount_amount,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_shop__order_lines') }}
where reject_reason is not null
