{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- B2B account activity: business customers (email domain in the seed
    b2b_accounts, a stand-in for the CRM's account table) with at least
    params.min_orders orders or params.min_sessions sessions in the last 7
    days. The alert goes to the account's sales owner (channel sales_alert);
    one occurrence per person and ISO week. -#}
{%- set min_orders = kairos_scenario_param('b2b_account_activity', 'min_orders') | int -%}
{%- set min_sessions = kairos_scenario_param('b2b_account_activity', 'min_sessions') | int -%}

with

accounts as (

    select
        customers.customer_key,
        b2b.account_name
    from {{ ref('dim_customers') }} as customers
    inner join {{ ref('b2b_accounts') }} as b2b
        on {{ dbt.split_part('customers.email', "'@'", 2) }} = b2b.email_domain

),

orders as (

    select
        customer_key,
        count(*) as orders_7d,
        sum(order_total) as revenue_7d
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and not is_cancelled
        and {{ kairos_in_decision_scope('customer_key') }}
        and ordered_at > {{ dbt.dateadd('day', -7, kairos_now()) }}
        and ordered_at <= {{ kairos_now() }}
    group by 1

),

sessions as (

    select customer_key, count(distinct session_id) as sessions_7d
    from {{ kairos_trigger_events() }}
    where customer_key is not null
        and session_id is not null
        and event_at > {{ dbt.dateadd('day', -7, kairos_now()) }}
        and event_at <= {{ kairos_now() }}
    group by 1

),

week as (

    select {{ dbt.date_trunc('week', kairos_now()) }} as week_start

),

final as (

    select
        -- trigger contract
        accounts.customer_key,
        {{ dbt.concat(["'week-'", "cast(cast(week.week_start as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        cast(week.week_start as {{ dbt.type_timestamp() }}) as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        accounts.account_name,
        cast(coalesce(orders.orders_7d, 0) as integer) as orders_7d,
        cast(coalesce(sessions.sessions_7d, 0) as integer) as sessions_7d,
        cast(coalesce(orders.revenue_7d, 0) as numeric(18, 2)) as revenue_7d

    from accounts
    cross join week
    left join orders
        on accounts.customer_key = orders.customer_key
    left join sessions
        on accounts.customer_key = sessions.customer_key
    where coalesce(orders.orders_7d, 0) >= {{ min_orders }}
        or coalesce(sessions.sessions_7d, 0) >= {{ min_sessions }}

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
