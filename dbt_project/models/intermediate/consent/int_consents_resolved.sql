{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The current consent per person and channel, as of kairos_now().

    The consent log (grants and withdrawals) and the opt-outs the channels
    report back (unsubscribed, complained in contact history) form one
    timeline per customer_key and channel; the latest entry wins, and on a
    tie a withdrawal beats a grant, so a withdrawal takes effect at once.
    Entries after kairos_now() are ignored (replays see the past as it was). -#}
with

consents as (

    select customer_id, channel, status, source, recorded_at
    from {{ ref('stg_crm__consents') }}

),

opt_outs as (

    select
        customer_id,
        channel,
        'withdrawn' as status,
        {{ dbt.concat(["'channel_'", 'event_type']) }} as source,
        occurred_at as recorded_at
    from {{ ref('stg_messaging__contact_history') }}
    where event_type in ('unsubscribed', 'complained')

),

timeline as (

    select * from consents
    union all
    select * from opt_outs

),

identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

keyed as (

    select
        identities.customer_key,
        timeline.customer_id,
        timeline.channel,
        timeline.status,
        timeline.source,
        timeline.recorded_at
    from timeline
    inner join identities
        on timeline.customer_id = identities.customer_id
    where timeline.recorded_at <= {{ kairos_now() }}

),

ranked as (

    select
        keyed.*,
        row_number() over (
            partition by customer_key, channel
            order by recorded_at desc, case when status = 'withdrawn' then 0 else 1 end, source, customer_id
        ) as recency_rank
    from keyed

),

final as (

    select
        {{ kairos_surrogate_key(['customer_key', 'channel']) }} as customer_channel_id,
        customer_key,
        channel,
        status as consent_status,
        status = 'granted' as has_consent,
        source as consent_source,
        customer_id as consent_customer_id,
        recorded_at as consent_changed_at
    from ranked
    where recency_rank = 1

)

select * from final
