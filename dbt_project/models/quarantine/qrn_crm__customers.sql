select
    -- the row as it landed
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    birthday,
    city,
    country_code,
    time_zone,
    acquisition_source,
    registered_at,
    updated_at,

    -- why staging could not use it
    reject_reason,
    raw_row_key,
    {{ kairos_now() }} as quarantined_at

from {{ ref('base_crm__customers') }}
where reject_reason is not null
