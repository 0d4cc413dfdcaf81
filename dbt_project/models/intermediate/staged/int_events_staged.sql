{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="{{ kairos_analyze() }}",
) }}

{#- The staged events (stg_shop__events), materialised, and incremental: a
    micro-batch of new events costs in proportion to itself, not to the
    click stream (stg_shop__events is a view whose every read types,
    validates and de-duplicates the whole raw table).

    An incremental run types only the raw rows received within
    var('kairos__events_lookback_hours') of the newest staged event
    (received_at is stamped by the loader where a file has none) and adds
    the valid ones whose event_id is not staged yet: the first copy
    received wins, as in stg_shop__events. A row that lands with a
    received_at older than the look-back is caught by the data test
    assert_every_valid_raw_event_is_staged; a --full-refresh stages it. -#}

-- depends_on: {{ source('shop', 'events') }}
-- depends_on: {{ ref('event_name_map') }}

{% if is_incremental() %}

{%- set since = kairos_events_lookback_since(this) %}

with

checked as (

    {{ shop_events_checked(
        source('shop', 'events'),
        where='cast(received_at as ' ~ dbt.type_timestamp() ~ ') >= ' ~ since,
    ) }}

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
    left join {{ this }} as staged
        on ranked.clean_event_id = staged.event_id
    where ranked.copy_number = 1
        and staged.event_id is null

)

select
    {{ shop_events_staged_columns() }}
from new_events

{% else %}

select * from {{ ref('stg_shop__events') }}

{% endif %}
