{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Links between identifiers observed together, one row per distinct pair:
    - CRM: customer_id <-> email, customer_id <-> phone
    - orders: customer_id <-> email, customer_id <-> phone, email <-> phone
      (a guest checkout links its email and phone)
    - events: every pair among anonymous_id, customer_id, email and
      push_token seen on one event (login and identify events, logged-in
      sessions, app installs registering a push token)

    Guards, so that one bad link cannot fuse strangers:
    - blocked values (seed identity_blocklist) link nobody;
    - per-type limits (var kairos__identity_max_links): an identifier linked
      to more distinct identifiers of a type than its limit is shared (a
      family tablet, a POS terminal, an agency inbox) and merges nobody.
    Non-merging links stay here for inspection, with the reason. -#}
{%- set limits = kairos_identity_link_limits() -%}

with

customers as (

    select customer_id, email, phone, updated_at as observed_at
    from {{ ref('stg_crm__customers') }}

),

orders as (

    select * from {{ ref('int_identity_order_observations') }}

),

events as (

    select * from {{ ref('int_identity_event_observations') }}

),

{%- set event_pairs = [
    ('anonymous_id', 'customer_id'), ('anonymous_id', 'email'), ('anonymous_id', 'push_token'),
    ('customer_id', 'email'), ('customer_id', 'push_token'), ('email', 'push_token'),
] %}

observed_links as (

    select
        'crm_customer' as link_source,
        'customer_id' as left_type, customer_id as left_value,
        'email' as right_type, email as right_value,
        1 as observation_count,
        observed_at as first_seen_at, observed_at as last_seen_at
    from customers
    where email is not null

    union all

    select 'crm_customer', 'customer_id', customer_id, 'phone', phone, 1, observed_at, observed_at
    from customers
    where phone is not null

    union all

    select 'order', 'customer_id', customer_id, 'email', email, observation_count, first_seen_at, last_seen_at
    from orders
    where customer_id is not null and email is not null

    union all

    select 'order', 'customer_id', customer_id, 'phone', phone, observation_count, first_seen_at, last_seen_at
    from orders
    where customer_id is not null and phone is not null

    union all

    select 'order', 'email', email, 'phone', phone, observation_count, first_seen_at, last_seen_at
    from orders
    where email is not null and phone is not null

    {%- for left, right in event_pairs %}

    union all

    select 'event', '{{ left }}', {{ left }}, '{{ right }}', {{ right }}, observation_count, first_seen_at, last_seen_at
    from events
    where {{ left }} is not null and {{ right }} is not null
    {%- endfor %}

),

pairs as (

    select
        left_type,
        left_value,
        right_type,
        right_value,
        min(link_source) as link_source,
        sum(observation_count) as observation_count,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from observed_links
    group by 1, 2, 3, 4

),

blocked as (

    select identifier_type, identifier_value
    from {{ ref('int_identity_identifiers') }}
    where is_blocked

),

flagged as (

    select
        pairs.*,
        left_blocked.identifier_value is not null as left_is_blocked,
        right_blocked.identifier_value is not null as right_is_blocked
    from pairs
    left join blocked as left_blocked
        on pairs.left_type = left_blocked.identifier_type
        and pairs.left_value = left_blocked.identifier_value
    left join blocked as right_blocked
        on pairs.right_type = right_blocked.identifier_type
        and pairs.right_value = right_blocked.identifier_value

),

-- every usable link from both ends, to count what each identifier is linked to
edge_ends as (

    select left_type as identifier_type, left_value as identifier_value, right_type as other_type, right_value as other_value
    from flagged
    where not left_is_blocked and not right_is_blocked
    union all
    select right_type, right_value, left_type, left_value
    from flagged
    where not left_is_blocked and not right_is_blocked

),

-- pairs are distinct and each pair of types has one orientation, so a count
-- of ends is a count of distinct linked values
link_counts as (

    select
        identifier_type,
        identifier_value,
        other_type,
        count(*) as linked_values
    from edge_ends
    where identifier_type <> 'customer_id'
    group by 1, 2, 3

),

shared_identifiers as (

    select distinct identifier_type, identifier_value
    from link_counts
    where
    {%- for identifier_type, linked_type, limit in limits %}
        {{ 'or ' if not loop.first }}(identifier_type = '{{ identifier_type }}' and other_type = '{{ linked_type }}' and linked_values > {{ limit }})
    {%- endfor %}

),

final as (

    select
        {{ kairos_surrogate_key(['flagged.left_type', 'flagged.left_value', 'flagged.right_type', 'flagged.right_value']) }}
            as edge_id,
        flagged.left_type,
        flagged.left_value,
        flagged.right_type,
        flagged.right_value,
        flagged.link_source,
        flagged.observation_count,
        left_shared.identifier_value is not null as left_is_shared,
        right_shared.identifier_value is not null as right_is_shared,
        flagged.left_is_blocked,
        flagged.right_is_blocked,
        (
            left_shared.identifier_value is null and right_shared.identifier_value is null
            and not flagged.left_is_blocked and not flagged.right_is_blocked
        ) as is_merging,
        case
            when flagged.left_is_blocked or flagged.right_is_blocked then 'blocked_value'
            when left_shared.identifier_value is not null or right_shared.identifier_value is not null then 'shared_identifier'
        end as not_merging_reason,
        flagged.first_seen_at,
        flagged.last_seen_at
    from flagged
    left join shared_identifiers as left_shared
        on flagged.left_type = left_shared.identifier_type
        and flagged.left_value = left_shared.identifier_value
    left join shared_identifiers as right_shared
        on flagged.right_type = right_shared.identifier_type
        and flagged.right_value = right_shared.identifier_value

)

select * from final
