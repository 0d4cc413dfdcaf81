with

source as (

    select * from {{ ref('base_messaging__contact_history') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        {{ kairos_surrogate_key(['clean_message_id', 'clean_event_type', 'occurred_at_ts']) }} as contact_event_id,
        clean_message_id as message_id,
        clean_customer_id as customer_id,
        clean_campaign_id as campaign_id,

        -- strings
        clean_channel as channel,
        clean_event_type as event_type,
        clean_bounce_type as bounce_type,

        -- booleans
        coalesce(
            substr(clean_campaign_id, 1, {{ var('kairos__transactional_campaign_prefix') | length }})
                <> '{{ var('kairos__transactional_campaign_prefix') }}',
            true
        ) as is_marketing,

        -- timestamps
        occurred_at_ts as occurred_at

    from source

)

select * from renamed
