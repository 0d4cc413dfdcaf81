{#- Every raw consent record, typed and checked. The log is history by
    design: every valid record is staged; the current state per channel is
    resolved in int_consents_resolved. -#}
with

source as (

    select * from {{ source('crm', 'consents') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key(['consent_id', 'customer_id', 'channel', 'status', 'source', 'recorded_at']) }}
            as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,
        {{ kairos_clean_text('consent_id') }} as clean_consent_id,
        {{ kairos_clean_text('customer_id') }} as clean_customer_id,
        lower({{ kairos_clean_text('channel') }}) as clean_channel,
        lower({{ kairos_clean_text('status') }}) as clean_status,
        lower({{ kairos_clean_text('source') }}) as clean_source,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at_ts
    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_consent_id is null then 'missing_consent_id'
            when clean_customer_id is null then 'missing_customer_id'
            when clean_channel is null or clean_channel not in ('email', 'sms', 'push', 'ads') then 'unknown_channel'
            when clean_status is null or clean_status not in ('granted', 'withdrawn') then 'unknown_status'
            when recorded_at_ts is null then 'missing_timestamp'
        end as validation_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_consent_id, validation_reason
                    order by recorded_at_ts, raw_row_key
                )
        end as copy_number
    from checked

)

select
    ranked.*,
    coalesce(validation_reason, case when copy_number > 1 then 'duplicate' end) as reject_reason,
    false as is_superseded
from ranked
