{#- Loyalty points about to expire. The raw contract has no loyalty ledger:
    points are modelled from orders - one point per whole euro of every kept
    order (not cancelled, not returned), valid params.validity_days days.
    A person qualifies when at least params.min_points points expire within
    params.notice_days days; the occurrence is the earliest expiry date, due
    params.notice_days before it. -#}
{%- set validity_days = kairos_scenario_param('loyalty_points_expiring', 'validity_days') | int -%}
{%- set notice_days = kairos_scenario_param('loyalty_points_expiring', 'notice_days') | int -%}
{%- set min_points = kairos_scenario_param('loyalty_points_expiring', 'min_points') | int -%}

with

earned as (

    select
        customer_key,
        cast(floor(order_total) as integer) as points,
        {{ dbt.dateadd('day', validity_days, 'ordered_at') }} as expires_at
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and is_revenue
        and order_total > 0
        and ordered_at <= {{ kairos_now() }}

),

balances as (

    select
        customer_key,
        sum(case when expires_at > {{ kairos_now() }} then points else 0 end) as points_balance,
        sum(
            case
                when expires_at > {{ kairos_now() }}
                    and expires_at <= {{ dbt.dateadd('day', notice_days, kairos_now()) }}
                    then points
                else 0
            end
        ) as points_expiring,
        min(case when expires_at > {{ kairos_now() }} then expires_at end) as next_expiry_at
    from earned
    group by 1

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(["'expiry-'", "cast(cast(next_expiry_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        {{ dbt.dateadd('day', -notice_days, 'next_expiry_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        cast(points_expiring as integer) as points_expiring,
        cast(points_balance as integer) as points_balance,
        cast(next_expiry_at as date) as expires_on

    from balances
    where points_expiring >= {{ min_points }}

)

select * from final
