{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='membership_id',
    on_schema_change='append_new_columns',
    post_hook="{{ kairos_analyze() }}",
) }}

{#- Segment membership history: one row per stay of a person in a segment,
    with entered_at and exited_at (null while the person is still in it).
    History is kept across runs (incremental): each run compares the open
    stays with seg_memberships_current as of kairos_now() and
    - closes the stays of people who no longer match (exit_reason
      'left_segment'), whose segment was retired ('segment_retired') or who
      no longer exist as a person ('person_removed');
    - opens a stay for every new member (entry_reason 'entered'): the rows
      an "entered segment" scenario triggers on;
    - follows identity merges (dim_customer_key_map): the stay of a merged
      key is closed ('merged') and continues under the surviving key with
      the original entered_at (entry_reason 'merged'), so a merge neither
      re-triggers an entry nor loses the membership's age.
    Runs are expected to move forward in time (kairos_now() increasing). -#}
-- depends_on: {{ ref('dim_customer_key_map') }}
-- depends_on: {{ ref('seg_segments') }}

with

current_members as (

    select segment_id, customer_key from {{ ref('seg_memberships_current') }}

),

{% if is_incremental() %}

open_stays as (

    select
        stays.membership_id,
        stays.segment_id,
        stays.customer_key,
        stays.entered_at,
        stays.entry_reason,
        -- the key standing for the person now (itself unless merged away)
        case
            when key_map.customer_key is null then stays.customer_key
            else key_map.current_customer_key
        end as current_customer_key
    from {{ this }} as stays
    left join {{ ref('dim_customer_key_map') }} as key_map
        on stays.customer_key = key_map.customer_key
    where stays.exited_at is null

),

registry as (

    select segment_id from {{ ref('seg_segments') }}

),

closed as (

    select
        open_stays.membership_id,
        open_stays.segment_id,
        open_stays.customer_key,
        open_stays.entered_at,
        open_stays.entry_reason,
        {{ kairos_now() }} as exited_at,
        case
            when registry.segment_id is null then 'segment_retired'
            when open_stays.current_customer_key is null then 'person_removed'
            when current_members.customer_key is null then 'left_segment'
            else 'merged'
        end as exit_reason
    from open_stays
    left join registry
        on open_stays.segment_id = registry.segment_id
    left join current_members
        on open_stays.segment_id = current_members.segment_id
        and open_stays.current_customer_key = current_members.customer_key
    where current_members.customer_key is null
        or open_stays.current_customer_key <> open_stays.customer_key

),

-- stays that continue under the surviving key of a merge
carried as (

    select
        open_stays.segment_id,
        open_stays.current_customer_key as customer_key,
        min(open_stays.entered_at) as entered_at
    from open_stays
    inner join current_members
        on open_stays.segment_id = current_members.segment_id
        and open_stays.current_customer_key = current_members.customer_key
    where open_stays.current_customer_key <> open_stays.customer_key
    group by 1, 2

),

opened as (

    select
        current_members.segment_id,
        current_members.customer_key,
        coalesce(carried.entered_at, {{ kairos_now() }}) as entered_at,
        case when carried.customer_key is not null then 'merged' else 'entered' end as entry_reason
    from current_members
    left join open_stays as still_open
        on current_members.segment_id = still_open.segment_id
        and current_members.customer_key = still_open.customer_key
    left join carried
        on current_members.segment_id = carried.segment_id
        and current_members.customer_key = carried.customer_key
    where still_open.membership_id is null

),

changes as (

    select
        membership_id,
        segment_id,
        customer_key,
        entered_at,
        entry_reason,
        exited_at,
        exit_reason
    from closed

    union all

    select
        {{ kairos_surrogate_key(['segment_id', 'customer_key', 'entered_at', kairos_now()]) }} as membership_id,
        segment_id,
        customer_key,
        entered_at,
        entry_reason,
        cast(null as {{ dbt.type_timestamp() }}) as exited_at,
        cast(null as {{ dbt.type_string() }}) as exit_reason
    from opened

)

{% else %}

changes as (

    select
        {{ kairos_surrogate_key(['segment_id', 'customer_key', kairos_now(), kairos_now()]) }} as membership_id,
        segment_id,
        customer_key,
        {{ kairos_now() }} as entered_at,
        cast('entered' as {{ dbt.type_string() }}) as entry_reason,
        cast(null as {{ dbt.type_timestamp() }}) as exited_at,
        cast(null as {{ dbt.type_string() }}) as exit_reason
    from current_members

)

{% endif %}

select
    membership_id,
    segment_id,
    customer_key,
    entered_at,
    entry_reason,
    exited_at,
    exit_reason,
    exited_at is null as is_current,
    {{ kairos_now() }} as updated_at
from changes
