select
    -- the row as it landed
    consent_id,
    customer_id,
    channel,
    status,
    source,
    recorded_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_crm__consents') }}
where reject_reason is not null
