{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Every customer_key ever issued, with the key that stands for that person
    now. Tables and logs that stored a key in the past (contact history
    exports, the sync ledger, segment history, scored traits) join here on
    customer_key to follow merges: current_customer_key is the key itself
    while it is in use; for a retired key, the current key holding most of
    the identifiers that once carried it (null when none of them belongs to
    anybody any more, e.g. all became shared). -#}
with

assignments as (

    select * from {{ ref('int_identity_assignments') }}

),

current_identifiers as (

    select identifier_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where customer_key is not null

),

issued as (

    select customer_key, min(assigned_at) as first_issued_at, min(run_number) as first_run_number
    from assignments
    where customer_key is not null
    group by 1

),

in_use as (

    select distinct customer_key from current_identifiers

),

holders as (

    select distinct customer_key as issued_key, identifier_id
    from assignments
    where customer_key is not null

),

successors as (

    select issued_key, current_customer_key
    from (
        select
            holders.issued_key,
            current_identifiers.customer_key as current_customer_key,
            row_number() over (
                partition by holders.issued_key
                order by count(*) desc, {{ kairos_binary_collate('current_identifiers.customer_key') }}
            ) as vote_rank
        from holders
        inner join current_identifiers
            on holders.identifier_id = current_identifiers.identifier_id
        group by holders.issued_key, current_identifiers.customer_key
    ) as ranked
    where vote_rank = 1

),

retirements as (

    select merged_customer_key, max(merged_at) as retired_at
    from {{ ref('int_identity_merges') }}
    group by 1

),

final as (

    select
        issued.customer_key,
        case
            when in_use.customer_key is not null then issued.customer_key
            else successors.current_customer_key
        end as current_customer_key,
        in_use.customer_key is not null as is_current,
        issued.first_issued_at,
        case when in_use.customer_key is null then retirements.retired_at end as retired_at
    from issued
    left join in_use
        on issued.customer_key = in_use.customer_key
    left join successors
        on issued.customer_key = successors.issued_key
    left join retirements
        on issued.customer_key = retirements.merged_customer_key

)

select * from final
