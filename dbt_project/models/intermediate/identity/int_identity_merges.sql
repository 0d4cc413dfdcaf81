{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The merge history: one row each time identifiers moved from one
    customer_key to another, derived from the append-only
    int_identity_assignments (so it survives every rebuild of this table).

    merge_kind 'merge': the old key's identifiers moved into an existing
    person (two customers found to be one, e.g. a new login links two
    accounts); 'split': they moved to a key issued for the occasion (the
    smaller part of a person found to be two, e.g. a device that turned out
    to be shared). Downstream tables follow merges through
    dim_customer_key_map. -#}
select
    {{ kairos_surrogate_key(['previous_customer_key', 'customer_key', 'run_number']) }} as merge_id,
    previous_customer_key as merged_customer_key,
    customer_key as into_customer_key,
    case when max(change_kind) = 'split' then 'split' else 'merge' end as merge_kind,
    count(*) as identifiers_moved,
    min(run_number) as run_number,
    min(assigned_at) as merged_at
from {{ ref('int_identity_assignments') }}
where previous_customer_key is not null
    and customer_key is not null
    and previous_customer_key <> customer_key
group by previous_customer_key, customer_key, run_number
