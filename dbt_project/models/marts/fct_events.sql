{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    post_hook="{{ kairos_analyze() }}",
) }}

{#- Canonical behavioural events, one row per event, with the person they
    belong to: the customer_key of the event's customer_id, else of its
    anonymous_id, else of its email (shared identifiers such as POS terminals
    give none).

    Incremental, so a micro-batch costs in proportion to itself. A run
    (re)writes:
    - the new staged events (received within var('kairos__events_lookback_hours')
      of the newest event here, and not here yet);
    - the events whose identifiers changed key since this table was keyed:
      the identity assignments are append-only and numbered by run
      (int_identity_assignments), so a merge or split in a batch run
      re-keys exactly the events it touches; when the identity history was
      rebuilt from scratch (its first run is another invocation), every
      event is keyed again. -#}

with

identity_runs as (

    select
        coalesce(max(run_number), 0) as identity_run_number,
        max(case when run_number = 1 then invocation_id end) as identity_origin
    from {{ ref('int_identity_assignments') }}

),

{% if is_incremental() %}

{%- set newest_keyed -%}
    (select coalesce(max(received_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
{%- endset %}

keyed as (

    select
        coalesce(max(identity_run_number), 0) as identity_run_number,
        max(identity_origin) as identity_origin
    from {{ this }}

),

-- every event is keyed again when the identity history restarted
rekey_all as (

    select
        coalesce(identity_runs.identity_origin, '') <> coalesce(keyed.identity_origin, '')
        or identity_runs.identity_run_number < keyed.identity_run_number as is_restart
    from identity_runs
    cross join keyed

),

changed_identifiers as (

    select identifier_type, identifier_value
    from {{ ref('int_identity_assignments') }}
    where run_number > (select identity_run_number from keyed)

),

new_events as (

    select staged.*
    from {{ ref('int_events_staged') }} as staged
    left join {{ this }} as existing
        on staged.event_id = existing.event_id
    where staged.received_at >= {{ dbt.dateadd('hour', -(var('kairos__events_lookback_hours') | int), newest_keyed) }}
        and existing.event_id is null

),

rekeyed_events as (

    select staged.*
    from {{ ref('int_events_staged') }} as staged
    where (select is_restart from rekey_all)
        or staged.customer_id in (
            select identifier_value from changed_identifiers where identifier_type = 'customer_id'
        )
        or staged.anonymous_id in (
            select identifier_value from changed_identifiers where identifier_type = 'anonymous_id'
        )
        or staged.email in (
            select identifier_value from changed_identifiers where identifier_type = 'email'
        )

),

events as (

    select * from new_events
    union
    select * from rekeyed_events

),

{% else %}

events as (

    select * from {{ ref('int_events_staged') }}

),

{% endif %}

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
        events.received_at,

        -- the identity history this row was keyed against (see above)
        identity_runs.identity_run_number,
        identity_runs.identity_origin

    from events
    cross join identity_runs
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
