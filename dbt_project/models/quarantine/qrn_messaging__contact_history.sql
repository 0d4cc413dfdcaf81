select
    -- the row as it landed
    message_id,
    customer_id,
    channel,
    campaign_id,
    event_type,
    bounce_type,
    occurred_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_messaging__contact_history') }}
where reject_reason is not null
