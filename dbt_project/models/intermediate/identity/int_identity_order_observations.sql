{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The identifiers that travel together on orders, one row per distinct
    combination of customer_id, email and phone (normalised in staging),
    with how often and when it was seen. Like
    int_identity_event_observations for events: a shopper places many
    orders with the same details, so the identity graph reads a fraction of
    the order rows. -#}
select
    customer_id,
    email,
    phone,
    count(*) as observation_count,
    min(ordered_at) as first_seen_at,
    max(ordered_at) as last_seen_at
from {{ ref('int_orders_staged') }}
where customer_id is not null or email is not null or phone is not null
group by 1, 2, 3
