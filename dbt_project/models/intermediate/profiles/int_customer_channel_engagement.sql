{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Engagement per person and channel from contact history as of
    kairos_now(): marketing messages sent, opened, clicked, and an
    engagement rate that does not over-reward channels with few sends.

    engagement_rate = (opens + clicks + 1) / (2 * messages sent + 2): an
    open and a click each count (a click is the stronger signal, and push
    and SMS report few opens), and the +1/+2 (a uniform prior) keeps one
    lucky open of one SMS from beating a steady email reader. Transactional messages are left out: they reach
    everybody and say nothing about preference. -#}
with

identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

messages as (

    select
        identities.customer_key,
        contacts.channel,
        contacts.message_id,
        max(case when contacts.event_type = 'sent' then 1 else 0 end) as was_sent,
        max(case when contacts.event_type = 'opened' then 1 else 0 end) as was_opened,
        max(case when contacts.event_type = 'clicked' then 1 else 0 end) as was_clicked,
        max(case when contacts.event_type in ('opened', 'clicked') then contacts.occurred_at end) as engaged_at
    from {{ ref('stg_messaging__contact_history') }} as contacts
    inner join identities
        on contacts.customer_id = identities.customer_id
    where contacts.is_marketing
        and contacts.occurred_at <= {{ kairos_now() }}
    group by 1, 2, 3

),

channels as (

    select
        customer_key,
        channel,
        sum(was_sent) as messages_sent,
        sum(was_opened) as messages_opened,
        sum(was_clicked) as messages_clicked,
        max(engaged_at) as last_engaged_at
    from messages
    group by 1, 2

)

select
    {{ kairos_surrogate_key(['customer_key', 'channel']) }} as customer_channel_id,
    customer_key,
    channel,
    messages_sent,
    messages_opened,
    messages_clicked,
    last_engaged_at,
    (messages_opened + messages_clicked + 1.0) / (2.0 * messages_sent + 2.0) as engagement_rate
from channels
