{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The contact points seen for each person outside the CRM: the latest
    email and phone given at checkout or on events, and the latest push
    token registered by an app install (a token of a shared device belongs
    to nobody: its events carry no person). Blocked values (test addresses,
    placeholder numbers) are never contact points. -#}
with

blocked as (

    select identifier_type, identifier_value
    from {{ ref('int_identity_identifiers') }}
    where is_blocked

),

observed as (

    select customer_key, 'email' as contact_type, email as contact_value, ordered_at as observed_at
    from {{ ref('fct_orders') }}
    where customer_key is not null and email is not null and ordered_at <= {{ kairos_now() }}

    union all

    select customer_key, 'phone', phone, ordered_at
    from {{ ref('fct_orders') }}
    where customer_key is not null and phone is not null and ordered_at <= {{ kairos_now() }}

    union all

    select customer_key, 'email', email, event_at
    from {{ ref('fct_events') }}
    where customer_key is not null and email is not null and event_at <= {{ kairos_now() }}

    union all

    select customer_key, 'push_token', push_token, event_at
    from {{ ref('fct_events') }}
    where customer_key is not null and push_token is not null and event_at <= {{ kairos_now() }}

),

usable as (

    select observed.*
    from observed
    left join blocked
        on observed.contact_type = blocked.identifier_type
        and observed.contact_value = blocked.identifier_value
    where blocked.identifier_value is null

),

ranked as (

    select
        usable.*,
        row_number() over (
            partition by customer_key, contact_type
            order by observed_at desc, contact_value
        ) as recency_rank
    from usable

)

select
    customer_key,
    max(case when contact_type = 'email' then contact_value end) as latest_email,
    max(case when contact_type = 'phone' then contact_value end) as latest_phone,
    max(case when contact_type = 'push_token' then contact_value end) as latest_push_token,
    max(case when contact_type = 'push_token' then observed_at end) as push_token_registered_at
from ranked
where recency_rank = 1
group by 1
