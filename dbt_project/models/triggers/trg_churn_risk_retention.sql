{#- Churn-risk retention: repeat buyers (at least params.min_orders orders)
    whose silence since the last order exceeds params.risk_factor times their
    usual gap between orders, up to params.max_days days (older silences are
    win-back's). churn_score = days since the last order / (risk_factor x
    usual gap); the trigger fires at 1. margin_rate is the person's margin on
    what they bought, which the offer (an incentive) must leave room for. -#}
{%- set min_orders = kairos_scenario_param('churn_risk_retention', 'min_orders') | int -%}
{%- set risk_factor = kairos_scenario_param('churn_risk_retention', 'risk_factor') -%}
{%- set max_days = kairos_scenario_param('churn_risk_retention', 'max_days') | int -%}

with

orders as (

    select customer_key, order_id, ordered_at
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and not is_cancelled
        and ordered_at <= {{ kairos_now() }}

),

rhythm as (

    select
        customer_key,
        count(*) as orders_count,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by 1
    having count(*) >= {{ min_orders }}

),

margins as (

    select
        customer_key,
        sum(quantity * (unit_price - unit_cost)) / nullif(sum(quantity * unit_price), 0) as margin_rate
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
    group by 1

),

scored as (

    select
        rhythm.*,
        {{ dbt.datediff('first_order_at', 'last_order_at', 'day') }} / (orders_count - 1.0) as usual_gap_days,
        {{ dbt.datediff('last_order_at', kairos_now(), 'day') }} as days_since_last_order
    from rhythm

),

final as (

    select
        -- trigger contract
        scored.customer_key,
        {{ dbt.concat(["'silence-'", "cast(cast(scored.last_order_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        {{ dbt.dateadd('hour', 'cast(round(scored.usual_gap_days * ' ~ risk_factor ~ ' * 24) as integer)', 'scored.last_order_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(margins.margin_rate as numeric(18, 4)) as margin_rate,

        -- payload
        cast(scored.days_since_last_order / ({{ risk_factor }} * scored.usual_gap_days) as numeric(18, 2)) as churn_score,
        cast(scored.days_since_last_order as integer) as days_since_last_order,
        cast(scored.usual_gap_days as numeric(18, 1)) as usual_gap_days

    from scored
    left join margins
        on scored.customer_key = margins.customer_key
    where scored.usual_gap_days >= 1
        and scored.days_since_last_order <= {{ max_days }}
        and {{ dbt.dateadd('hour', 'cast(round(scored.usual_gap_days * ' ~ risk_factor ~ ' * 24) as integer)', 'scored.last_order_at') }} <= {{ kairos_now() }}

)

select * from final
