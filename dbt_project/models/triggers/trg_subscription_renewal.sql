{#- Subscription renewal reminder. The raw contract has no subscription
    system: plans are the category plans of the seed subscription_plans. A
    person is on a plan from their first order in its category, renewing
    every term_days, while they ordered at least min_orders_per_term times in
    the category during the current term's span (the last term_days). The
    reminder is due params.notice_days before the current term ends; the
    occurrence is the plan and the term's end date. Transactional. -#}
{%- set notice_days = kairos_scenario_param('subscription_renewal', 'notice_days') | int -%}

with

plans as (

    select * from {{ ref('subscription_plans') }}

),

category_orders as (

    select
        lines.customer_key,
        plans.plan_id,
        plans.plan_name,
        plans.term_days,
        plans.min_orders_per_term,
        lines.order_id,
        lines.ordered_at
    from {{ ref('int_order_lines_joined') }} as lines
    inner join plans
        on lines.category = plans.category
    where not lines.is_cancelled

),

subscriptions as (

    select
        customer_key,
        plan_id,
        max(plan_name) as plan_name,
        max(term_days) as term_days,
        max(min_orders_per_term) as min_orders_per_term,
        min(ordered_at) as started_at,
        count(distinct case
            when ordered_at > {{ dbt.dateadd('day', '-term_days', kairos_now()) }} then order_id
        end) as orders_this_term
    from category_orders
    group by 1, 2

),

terms as (

    select
        subscriptions.*,
        {{ dbt.dateadd(
            'day',
            '(cast(floor(' ~ dbt.datediff('started_at', kairos_now(), 'day') ~ ' / (term_days * 1.0)) as integer) + 1) * term_days',
            'started_at'
        ) }} as term_ends_at
    from subscriptions
    where orders_this_term >= min_orders_per_term

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(['plan_id', "'@'", "cast(cast(term_ends_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        {{ dbt.dateadd('day', -notice_days, 'term_ends_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        plan_id,
        plan_name,
        cast(term_ends_at as date) as renews_on

    from terms
    where {{ dbt.dateadd('day', -notice_days, 'term_ends_at') }} <= {{ kairos_now() }}

)

select * from final
