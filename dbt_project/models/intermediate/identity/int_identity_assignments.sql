{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    post_hook="{{ kairos_analyze() }}",
) }}

{#- The history of which customer_key each identifier belongs to: append
    only, one row each time an identifier gets a key, changes key or loses
    it. The current assignment is the identifier's latest row
    (int_identities_stitched); merges and splits are derived from the
    changes (int_identity_merges, dim_customer_key_map).

    Stable keys. A run first finds the components (int_identity_components),
    then gives each component a key:
    - a component none of whose identifiers had a key before gets the hash
      of its component_id (its smallest customer id, else its smallest
      identifier): the same key on every warehouse and every full refresh;
    - otherwise it keeps a key its identifiers already had. Each previous
      key is claimed by the component holding most of its identifiers (tie:
      the smaller component_id); a component claiming several keys (two
      existing customers merged by a new link) keeps the oldest one (first
      issued in the earliest run; tie: the smaller key) and the others are
      merged into it;
    - a component whose identifiers all had keys claimed by others (the
      smaller part of a split) gets a new key derived from its component_id
      and its first previous key.
    So a person's key does not change between runs unless their identifiers
    merge with, or split from, another person's.

    Rows: change_kind is 'new' (first key), 'merged' (moved to another
    existing key), 'split' (moved to a new key after a split), 'unassigned'
    (became shared or blocked, or vanished from every source: key null). -#}

with

components as (

    select
        identifier_id,
        identifier_type,
        identifier_value,
        component_id,
        is_blocked,
        is_shared
    from {{ ref('int_identity_components') }}

),

{% if is_incremental() %}

history as (

    select * from {{ this }}

),

run_number as (

    select coalesce(max(run_number), 0) + 1 as run_number from history

),

previous as (

    select identifier_id, identifier_type, identifier_value, customer_key
    from (
        select
            identifier_id,
            identifier_type,
            identifier_value,
            customer_key,
            row_number() over (partition by identifier_id order by run_number desc) as recency_rank
        from history
    ) as ranked
    where recency_rank = 1

),

key_ages as (

    select customer_key, min(run_number) as first_run_number
    from history
    where customer_key is not null
    group by 1

),

component_previous_keys as (

    select components.component_id, previous.customer_key, count(*) as identifiers
    from components
    inner join previous
        on components.identifier_id = previous.identifier_id
    where components.component_id is not null
        and previous.customer_key is not null
    group by 1, 2

),

claims as (

    select component_id, customer_key
    from (
        select
            component_id,
            customer_key,
            row_number() over (
                partition by customer_key
                order by identifiers desc, {{ kairos_binary_collate('component_id') }}
            ) as claim_rank
        from component_previous_keys
    ) as ranked
    where claim_rank = 1

),

kept_keys as (

    select component_id, customer_key
    from (
        select
            claims.component_id,
            claims.customer_key,
            row_number() over (
                partition by claims.component_id
                order by key_ages.first_run_number, {{ kairos_binary_collate('claims.customer_key') }}
            ) as keep_rank
        from claims
        inner join key_ages
            on claims.customer_key = key_ages.customer_key
    ) as ranked
    where keep_rank = 1

),

split_seeds as (

    select component_id, min({{ kairos_binary_collate('customer_key') }}) as first_previous_key
    from component_previous_keys
    group by 1

),

component_keys as (

    select
        component_ids.component_id,
        case
            when kept_keys.customer_key is not null then kept_keys.customer_key
            when split_seeds.first_previous_key is not null
                then {{ kairos_surrogate_key(["'split'", 'component_ids.component_id', 'split_seeds.first_previous_key']) }}
            when key_ages.customer_key is not null
                -- the plain key was issued before to another component: never reuse a key
                then {{ kairos_surrogate_key(["'reissued'", 'component_ids.component_id', '(select run_number from run_number)']) }}
            else {{ kairos_surrogate_key(['component_ids.component_id']) }}
        end as customer_key,
        case
            when kept_keys.customer_key is null and split_seeds.first_previous_key is not null then 'split'
        end as component_change
    from (select distinct component_id from components where component_id is not null) as component_ids
    left join kept_keys
        on component_ids.component_id = kept_keys.component_id
    left join split_seeds
        on component_ids.component_id = split_seeds.component_id
    left join key_ages
        on {{ kairos_surrogate_key(['component_ids.component_id']) }} = key_ages.customer_key

),

current_assignments as (

    select
        components.identifier_id,
        components.identifier_type,
        components.identifier_value,
        components.component_id,
        component_keys.customer_key,
        component_keys.component_change
    from components
    left join component_keys
        on components.component_id = component_keys.component_id

    union all

    -- identifiers no source mentions any more
    select
        previous.identifier_id,
        previous.identifier_type,
        previous.identifier_value,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }})
    from previous
    left join components
        on previous.identifier_id = components.identifier_id
    where components.identifier_id is null
        and previous.customer_key is not null

),

changes as (

    select
        current_assignments.*,
        previous.customer_key as previous_customer_key,
        previous.identifier_id is not null as was_known
    from current_assignments
    left join previous
        on current_assignments.identifier_id = previous.identifier_id
    where
        -- new identifiers, and known ones whose key changed (null-safe)
        previous.identifier_id is null
        or coalesce(current_assignments.customer_key, '') <> coalesce(previous.customer_key, '')

),

{% else %}

run_number as (

    select 1 as run_number

),

changes as (

    select
        identifier_id,
        identifier_type,
        identifier_value,
        component_id,
        case when component_id is not null then {{ kairos_surrogate_key(['component_id']) }} end as customer_key,
        cast(null as {{ dbt.type_string() }}) as component_change,
        cast(null as {{ dbt.type_string() }}) as previous_customer_key,
        false as was_known
    from components

),

{% endif %}

final as (

    select
        {{ kairos_surrogate_key(['changes.identifier_id', 'run_number.run_number']) }} as assignment_id,
        changes.identifier_id,
        changes.identifier_type,
        changes.identifier_value,
        changes.customer_key,
        changes.previous_customer_key,
        changes.component_id,
        case
            when changes.customer_key is null then 'unassigned'
            when changes.previous_customer_key is null then 'new'
            when changes.component_change = 'split' then 'split'
            else 'merged'
        end as change_kind,
        cast(run_number.run_number as integer) as run_number,
        {{ kairos_now() }} as assigned_at,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as invocation_id
    from changes
    cross join run_number

)

select * from final
