{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The identifiers that travel together on events, one row per distinct
    combination of anonymous_id, customer_id, email and push_token (all
    normalised in staging), with how often and when it was seen.

    The identity graph reads events only through this table: the click
    stream is by far the largest input, and a few million distinct
    combinations stand for tens of millions of events. -#}
select
    anonymous_id,
    customer_id,
    email,
    push_token,
    count(*) as observation_count,
    min(event_at) as first_seen_at,
    max(event_at) as last_seen_at
from {{ ref('int_events_staged') }}
group by 1, 2, 3, 4
