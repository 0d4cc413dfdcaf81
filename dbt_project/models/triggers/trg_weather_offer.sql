{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Weather-triggered offer: today's and tomorrow's forecast per city (seed
    weather_forecasts, a stand-in for a weather feed) mapped to a category
    by params.condition_categories (rain needs params.min_precipitation_mm).
    The audience is the people of that city active (an order or an event)
    in the last params.interest_lookback_days days; the offer is the
    category's best-ranked in-stock product. One occurrence per person,
    city, day and condition (the first matching forecast day). -#}
{%- set conditions = kairos_scenario_param('weather_offer', 'condition_categories') -%}
{%- set min_mm = kairos_scenario_param('weather_offer', 'min_precipitation_mm') -%}
{%- set lookback_days = kairos_scenario_param('weather_offer', 'interest_lookback_days') | int -%}

with

today as (

    select {{ dbt.date_trunc('day', kairos_now()) }} as day_start

),

forecasts as (

    select
        forecasts.city,
        forecasts.condition,
        cast({{ dbt.dateadd('day', 'forecasts.day_offset', 'today.day_start') }} as date) as forecast_date,
        case forecasts.condition
            {%- for condition, category in conditions.items() %}
            when '{{ condition }}' then '{{ category }}'
            {%- endfor %}
        end as category,
        row_number() over (partition by forecasts.city, forecasts.condition order by forecasts.day_offset) as day_rank
    from {{ ref('weather_forecasts') }} as forecasts
    cross join today
    where forecasts.day_offset in (0, 1)
        and forecasts.condition in ({% for condition in conditions %}'{{ condition }}'{{ ', ' if not loop.last }}{% endfor %})
        and (forecasts.condition <> 'rain' or forecasts.precipitation_mm >= {{ min_mm }})

),

offers as (

    select category, product_id, product_name
    from {{ ref('int_products_ranked') }}
    where category_rank = 1
        and is_in_stock

),

active_people as (

    select customer_key from {{ kairos_trigger_events() }}
    where customer_key is not null
        and event_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }}
        and event_at <= {{ kairos_now() }}
    union
    select customer_key from {{ ref('fct_orders') }}
    where customer_key is not null
        and {{ kairos_in_decision_scope('customer_key') }}
        and ordered_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }}
        and ordered_at <= {{ kairos_now() }}

),

final as (

    select
        -- trigger contract
        customers.customer_key,
        {{ dbt.concat(['forecasts.city', "'@'", "cast(forecasts.forecast_date as " ~ dbt.type_string() ~ ")", "':'", 'forecasts.condition']) }} as trigger_ref,
        today.day_start as triggered_at,
        offers.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        forecasts.city,
        forecasts.condition,
        forecasts.forecast_date,
        forecasts.category,
        offers.product_name

    from forecasts
    cross join today
    inner join offers
        on forecasts.category = offers.category
    inner join {{ ref('dim_customers') }} as customers
        on forecasts.city = customers.city
    inner join active_people
        on customers.customer_key = active_people.customer_key
    where forecasts.day_rank = 1

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
