{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Every identifier any source has seen, one row per (type, value): the
    nodes of the identity graph.

    customer_id (CRM, orders, events), email (CRM, checkout, signup/login/
    identify events; normalised), phone (CRM, checkout; E.164), anonymous_id
    (cookie, app device or POS terminal id) and push_token (app installs).

    Values on the blocklist seed (identity_blocklist: placeholders such as
    'null', 'anonymous' or '0', test and reserved addresses, all-zero
    phones) are kept here with is_blocked and the reason, but link nobody
    and get no customer_key. Matching is case-insensitive; `like` rows use
    SQL LIKE patterns. -#}
with

customers as (

    select customer_id, email, phone, coalesce(registered_at, updated_at) as seen_at
    from {{ ref('stg_crm__customers') }}

),

orders as (

    select * from {{ ref('int_identity_order_observations') }}

),

events as (

    select * from {{ ref('int_identity_event_observations') }}

),

observed as (

    select 'customer_id' as identifier_type, customer_id as identifier_value, 'crm' as seen_in, seen_at, seen_at as last_at from customers
    union all
    select 'email', email, 'crm', seen_at, seen_at from customers where email is not null
    union all
    select 'phone', phone, 'crm', seen_at, seen_at from customers where phone is not null
    union all
    select 'customer_id', customer_id, 'order', first_seen_at, last_seen_at from orders where customer_id is not null
    union all
    select 'email', email, 'order', first_seen_at, last_seen_at from orders where email is not null
    union all
    select 'phone', phone, 'order', first_seen_at, last_seen_at from orders where phone is not null
    union all
    select 'anonymous_id', anonymous_id, 'event', first_seen_at, last_seen_at from events where anonymous_id is not null
    union all
    select 'customer_id', customer_id, 'event', first_seen_at, last_seen_at from events where customer_id is not null
    union all
    select 'email', email, 'event', first_seen_at, last_seen_at from events where email is not null
    union all
    select 'push_token', push_token, 'event', first_seen_at, last_seen_at from events where push_token is not null

),

identifiers as (

    select
        identifier_type,
        identifier_value,
        max(case when seen_in = 'crm' then 1 else 0 end) = 1 as is_in_crm,
        max(case when seen_in = 'order' then 1 else 0 end) = 1 as is_in_orders,
        max(case when seen_in = 'event' then 1 else 0 end) = 1 as is_in_events,
        min(seen_at) as first_seen_at,
        max(last_at) as last_seen_at
    from observed
    group by 1, 2

),

blocklist as (

    select
        lower(trim(identifier_type)) as identifier_type,
        lower(trim(match_type)) as match_type,
        lower(trim(blocked_value)) as blocked_value,
        reason
    from {{ ref('identity_blocklist') }}

),

blocked_exact as (

    select identifiers.identifier_type, identifiers.identifier_value, min(blocklist.reason) as blocked_reason
    from identifiers
    inner join blocklist
        on lower(identifiers.identifier_value) = blocklist.blocked_value
        and blocklist.identifier_type in ('*', identifiers.identifier_type)
        and blocklist.match_type = 'exact'
    group by 1, 2

),

-- the few LIKE patterns against every identifier of their type
blocked_pattern as (

    select identifiers.identifier_type, identifiers.identifier_value, min(blocklist.reason) as blocked_reason
    from identifiers
    inner join blocklist
        on blocklist.identifier_type in ('*', identifiers.identifier_type)
        and blocklist.match_type = 'like'
        and lower(identifiers.identifier_value) like blocklist.blocked_value
    group by 1, 2

),

final as (

    select
        {{ dbt.concat(['identifiers.identifier_type', "':'", 'identifiers.identifier_value']) }} as identifier_id,
        identifiers.identifier_type,
        identifiers.identifier_value,
        {{ kairos_identity_node_id('identifiers.identifier_type', 'identifiers.identifier_value') }} as node_id,
        identifiers.is_in_crm,
        identifiers.is_in_orders,
        identifiers.is_in_events,
        coalesce(blocked_exact.blocked_reason, blocked_pattern.blocked_reason) is not null as is_blocked,
        coalesce(blocked_exact.blocked_reason, blocked_pattern.blocked_reason) as blocked_reason,
        identifiers.first_seen_at,
        identifiers.last_seen_at
    from identifiers
    left join blocked_exact
        on identifiers.identifier_type = blocked_exact.identifier_type
        and identifiers.identifier_value = blocked_exact.identifier_value
    left join blocked_pattern
        on identifiers.identifier_type = blocked_pattern.identifier_type
        and identifiers.identifier_value = blocked_pattern.identifier_value

)

select * from final
