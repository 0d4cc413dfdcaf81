{#- Every raw CRM customer row, typed, normalised and checked. The CRM
    exports a row per change: among the valid rows of a customer the latest
    updated_at is current, the others are superseded history. An invalid
    email, phone or birthday is not a reason to reject the row: the field
    becomes null (an unreadable birthday is flagged, has_invalid_birthday,
    so a data-quality report can still count it); a missing id is. -#}
with

source as (

    select * from {{ source('crm', 'customers') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key([
            'customer_id', 'email', 'phone', 'first_name', 'last_name', 'birthday', 'city',
            'country_code', 'time_zone', 'acquisition_source', 'registered_at', 'updated_at'
        ]) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,

        -- ids
        {{ kairos_clean_text('customer_id') }} as clean_customer_id,

        -- strings
        {{ normalise_email('email') }} as email_normalised,
        {{ normalise_phone('phone', 'country_code') }} as phone_e164,
        {{ kairos_clean_text('first_name') }} as clean_first_name,
        {{ kairos_clean_text('last_name') }} as clean_last_name,
        {{ kairos_clean_text('city') }} as clean_city,
        upper({{ kairos_clean_text('country_code') }}) as clean_country_code,
        {{ kairos_clean_text('time_zone') }} as clean_time_zone,
        lower({{ kairos_clean_text('acquisition_source') }}) as clean_acquisition_source,

        -- dates
        {{ kairos_clean_text('birthday') }} as birthday_text,
        {{ try_cast_date(kairos_clean_text('birthday')) }} as birth_date,

        -- timestamps
        cast(registered_at as {{ dbt.type_timestamp() }}) as registered_at_ts,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at_ts

    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_customer_id is null then 'missing_customer_id'
        end as reject_reason,
        coalesce(
            birthday_text is not null
            and (
                birth_date is null
                or birth_date < cast('1900-01-01' as date)
                or birth_date > cast(updated_at_ts as date)
            ),
            false
        ) as has_invalid_birthday
    from typed

),

ranked as (

    select
        checked.*,
        case
            when reject_reason is null then
                row_number() over (
                    partition by clean_customer_id, reject_reason
                    order by updated_at_ts desc, raw_row_key
                )
        end as version_number
    from checked

)

select
    ranked.*,
    -- text that is not a real date, before 1900 or after the export: unknown
    case when not has_invalid_birthday then birth_date end as valid_birth_date,
    coalesce(version_number > 1, false) as is_superseded
from ranked
