{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- One row per identifier (customer_id, email, phone, anonymous_id,
    push_token) with the customer_key of the person it belongs to now: the
    identifier's latest row in int_identity_assignments, for the identifiers
    the sources still mention. Shared and blocked identifiers belong to no
    person (customer_key null). -#}
with

components as (

    select * from {{ ref('int_identity_components') }}

),

current_keys as (

    select identifier_id, customer_key, change_kind, assigned_at
    from (
        select
            identifier_id,
            customer_key,
            change_kind,
            assigned_at,
            row_number() over (partition by identifier_id order by run_number desc) as recency_rank
        from {{ ref('int_identity_assignments') }}
    ) as ranked
    where recency_rank = 1

),

final as (

    select
        components.identifier_id,
        components.identifier_type,
        components.identifier_value,
        current_keys.customer_key,
        case
            when current_keys.customer_key is not null and substr(components.component_id, 1, 2) = '0:'
                then substr(components.component_id, 3)
        end as anchor_customer_id,
        components.component_id,
        components.is_shared as is_shared_identifier,
        components.is_blocked as is_blocked_identifier,
        current_keys.assigned_at as key_assigned_at
    from components
    left join current_keys
        on components.identifier_id = current_keys.identifier_id

)

select * from final
