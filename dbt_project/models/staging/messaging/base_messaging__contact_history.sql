{#- Every raw message event reported by the sending systems, typed and checked. -#}
with

source as (

    select * from {{ source('messaging', 'contact_history') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key([
            'message_id', 'customer_id', 'channel', 'campaign_id', 'event_type', 'bounce_type', 'occurred_at'
        ]) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,
        {{ kairos_clean_text('message_id') }} as clean_message_id,
        {{ kairos_clean_text('customer_id') }} as clean_customer_id,
        {{ kairos_clean_text('campaign_id') }} as clean_campaign_id,
        lower({{ kairos_clean_text('channel') }}) as clean_channel,
        lower({{ kairos_clean_text('event_type') }}) as clean_event_type,
        lower({{ kairos_clean_text('bounce_type') }}) as clean_bounce_type,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at_ts
    from hashed

),

checked as (

    select
        typed.*,
        case
            when clean_message_id is null then 'missing_message_id'
            when clean_customer_id is null then 'missing_customer_id'
            when clean_channel is null or clean_channel not in ('email', 'sms', 'push') then 'unknown_channel'
            when clean_event_type is null
                or clean_event_type not in ('sent', 'delivered', 'opened', 'clicked', 'bounced', 'unsubscribed', 'complained')
                then 'unknown_event_type'
            when occurred_at_ts is null then 'missing_timestamp'
        end as validation_reason
    from typed

),

ranked as (

    select
        checked.*,
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_message_id, clean_event_type, occurred_at_ts, validation_reason
                    order by raw_row_key
                )
        end as copy_number
    from checked

)

select
    ranked.*,
    coalesce(validation_reason, case when copy_number > 1 then 'duplicate' end) as reject_reason,
    false as is_superseded
from ranked
