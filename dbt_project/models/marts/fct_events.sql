{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Canonical behavioural events, one row per event, with the person they
    belong to: the customer_key of the event's customer_id, else of its
    anonymous_id, else of its email (shared identifiers such as POS terminals
    give none). -#}
with

events as (

    select * from {{ ref('int_events_staged') }}

),

final as (

    select
        -- ids
        events.event_id,
        coalesce(by_customer_id.customer_key, by_anonymous_id.customer_key, by_email.customer_key) as customer_key,
        events.anonymous_id,
        events.customer_id,
        events.session_id,
        events.cart_id,
        events.product_id,
        events.order_id,

        -- strings
        events.event_name,
        events.source,
        events.email,
        events.push_token,
        events.page_url,

        -- numerics
        events.quantity,
        events.price,

        -- timestamps
        events.event_at,
        events.received_at

    from events
    left join {{ ref('int_identities_stitched') }} as by_customer_id
        on by_customer_id.identifier_type = 'customer_id'
        and events.customer_id = by_customer_id.identifier_value
    left join {{ ref('int_identities_stitched') }} as by_anonymous_id
        on by_anonymous_id.identifier_type = 'anonymous_id'
        and events.anonymous_id = by_anonymous_id.identifier_value
    left join {{ ref('int_identities_stitched') }} as by_email
        on by_email.identifier_type = 'email'
        and events.email = by_email.identifier_value

)

select * from final
