{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ kairos_analyze() }}",
) }}

{#- The staged events (stg_shop__events), materialised, and incremental: a
    micro-batch of new events costs in proportion to itself, not to the
    click stream (stg_shop__events is a view whose every read types,
    validates and de-duplicates the whole raw table).

    An incremental run reads only the raw rows received within
    var('kairos__events_lookback_hours') of the newest staged event
    (received_at is stamped by the loader where a file has none) whose
    event_id is not staged yet, and types and validates those alone: a
    micro-batch's hundred rows, not the window's hundred thousand. Of
    several copies of a new event the first received wins, as in
    stg_shop__events. A row that lands with a received_at older than the
    look-back is caught by the data test
    assert_every_valid_raw_event_is_staged; a --full-refresh stages it. -#}

-- depends_on: {{ source('shop', 'events') }}
-- depends_on: {{ ref('event_name_map') }}

{% if is_incremental() %}

{%- set since = kairos_events_lookback_since(this) %}
{#- the raw rows of the window whose event id is not staged: an event staged
    before keeps its first copy, so later copies need no typing -#}
{%- set unstaged -%}
(
        select raw_events.*
        from {{ source('shop', 'events') }} as raw_events
        where cast(raw_events.received_at as {{ dbt.type_timestamp() }}) >= {{ since }}
            and not exists (
                select 1
                from {{ this }} as staged
                where staged.event_id = {{ kairos_clean_text('raw_events.event_id') }}
            )
    ) as unstaged_events
{%- endset %}

with

checked as (

    {{ shop_events_checked(unstaged) }}

),

ranked as (

    select
        checked.*,
        row_number() over (
            partition by clean_event_id
            order by received_at_ts, raw_row_hash
        ) as copy_number
    from checked
    where validation_reason is null

),

new_events as (

    select ranked.*
    from ranked
    where ranked.copy_number = 1

)

select
    {{ shop_events_staged_columns() }}
from new_events

{% else %}

select * from {{ ref('stg_shop__events') }}

{% endif %}
