{{ config(**kairos_customer_scoped()) }}

{#- Messages the decision layer wants sent as of kairos_now(), one row per
    intent: the candidates decision_log let through, on the channel it
    chose, due at the just-in-time send time. intent_id is the idempotency
    key (hash of scenario, step, customer_key and trigger_ref): the same
    step of the same occurrence keeps its id across runs, so a destination
    in insert mode sends it once. The sync_<channel>__* models read this.
    Customer-scoped (macros/decisions/decision_scope.sql): a micro-batch
    rewrites the intents of the customers in decision_scope only. -#}
with

decided as (

    select candidate_id, channel, due_at, decided_at
    from {{ ref('decision_log') }}
    where outcome = 'intent'
        and {{ kairos_in_decision_scope('customer_key') }}

),

guards as (

    select * from {{ ref('decision_guards') }}
    where {{ kairos_in_decision_scope('customer_key') }}

),

customers as (

    select customer_key, email, first_name
    from {{ ref('decision_customer_context') }}
    where {{ kairos_in_decision_scope('customer_key') }}

),

final as (

    select
        -- ids
        guards.candidate_id as intent_id,
        guards.customer_key,
        guards.scenario_id,
        guards.step,
        guards.trigger_ref,
        guards.cart_id,
        guards.product_id,

        -- decision
        decided.channel,
        guards.contact_address,
        guards.priority,
        guards.is_transactional,
        case
            when guards.incentive_pct > 0 and guards.incentive_blocked_by is null then guards.incentive_pct
        end as incentive_pct,

        -- message
        customers.email,
        customers.first_name,
        guards.payload,

        -- timestamps
        decided.due_at,
        guards.triggered_at,
        decided.decided_at

    from decided
    inner join guards
        on decided.candidate_id = guards.candidate_id
        and decided.channel = guards.channel
    left join customers
        on guards.customer_key = customers.customer_key

)

select * from final
