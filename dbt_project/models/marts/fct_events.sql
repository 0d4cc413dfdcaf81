{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='append_new_columns',
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
      event is keyed again.
    A micro-batch (identity unchanged) reads only the look-back window. -#}

with

identity_runs as (

    select
        coalesce(max(run_number), 0) as identity_run_number,
        max(case when run_number = 1 then invocation_id end) as identity_origin
    from {{ ref('int_identity_assignments') }}

),

{% if is_incremental() %}

{#- What changed in identity since this table was keyed, asked before the
    query is written: a micro-batch (identity untouched) then reads no
    identity history and scans no old event, only the new ones. -#}
{%- set rekey = {'all': false, 'changed': false} -%}
{%- if execute -%}
    {%- set state = run_query(
        "select"
        ~ " (select coalesce(max(identity_run_number), 0) from " ~ this ~ ") as keyed_run,"
        ~ " (select max(identity_origin) from " ~ this ~ ") as keyed_origin,"
        ~ " (select coalesce(max(run_number), 0) from " ~ ref('int_identity_assignments') ~ ") as identity_run,"
        ~ " (select max(invocation_id) from " ~ ref('int_identity_assignments') ~ " where run_number = 1) as identity_origin"
    ).rows[0] -%}
    {%- do rekey.update({
        'all': (state[1] or '') != (state[3] or '') or state[2] < state[0],
        'changed': state[2] > state[0],
        'keyed_run': state[0],
    }) -%}
{%- endif -%}

{%- set since = kairos_events_lookback_since(this) %}

{%- if rekey['all'] %}

-- the identity history was rebuilt from scratch: every event is keyed again
events as (

    select * from {{ ref('int_events_staged') }}

),

{%- else %}

-- staged and keyed copies of an event carry the same received_at, so both
-- sides of the comparison are limited to the look-back
new_events as (

    select staged.*
    from {{ ref('int_events_staged') }} as staged
    left join (
        select event_id from {{ this }} where received_at >= {{ since }}
    ) as existing
        on staged.event_id = existing.event_id
    where staged.received_at >= {{ since }}
        and existing.event_id is null

),

{%- if rekey['changed'] %}

changed_identifiers as (

    select distinct identifier_type, identifier_value
    from {{ ref('int_identity_assignments') }}
    where run_number > {{ rekey['keyed_run'] }}

),

-- the events of identifiers that changed key in a later identity run
rekeyed_events as (
    {%- for column in ['customer_id', 'anonymous_id', 'email'] %}

    select staged.*
    from {{ ref('int_events_staged') }} as staged
    inner join changed_identifiers as changed
        on changed.identifier_type = '{{ column }}'
        and staged.{{ column }} = changed.identifier_value
    {% if not loop.last %}union{% endif %}
    {%- endfor %}

),

events as (

    select * from new_events
    union
    select * from rekeyed_events

),

{%- else %}

events as (

    select * from new_events

),

{%- endif %}
{%- endif %}

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
        identity_runs.identity_origin,

        -- when this row was (re)written: the start of the dbt run that keyed
        -- it; decision_scope re-decides the people of rows newer than the
        -- last decision run
        {{ kairos_run_started_at() }} as loaded_at

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
