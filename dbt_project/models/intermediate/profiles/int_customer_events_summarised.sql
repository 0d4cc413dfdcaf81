{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Behaviour per person as of kairos_now(): first and last event, the
    signals of purchase intent in the last var kairos__intent_window_days
    days (visits, product views, return-policy views, wishlist and cart
    adds, checkouts started) and the purchase-intent score built from them,
    and the usual hour of activity.

    purchase_intent_score (0-100) = 100 * (1 - exp(-points / scale)), where
    points weigh the recent signals with var kairos__intent_weights and
    scale is var kairos__intent_scale: many visits in a short time, a look at
    the return policy or a wishlist add raise it, and it saturates instead of
    growing without bound.

    usual_active_hour is the local hour (customer's CRM time zone) in which
    the person was active in the most distinct clock hours (ties: the
    earlier hour); events are first cut to clock hours, so a long session
    counts once and the time-zone conversion runs on hours, not events. -#}
{%- set window_days = var('kairos__intent_window_days') | int -%}
{%- set weights = var('kairos__intent_weights') -%}
{%- set signals = {
    'visits': "session_id is not null",
    'product_views': "event_name = 'product_view'",
    'return_policy_views': "event_name = 'return_policy_view'",
    'wishlist_adds': "event_name = 'wishlist_add'",
    'cart_adds': "event_name = 'add_to_cart'",
    'checkouts_started': "event_name = 'checkout_started'",
} -%}

with

events as (

    select customer_key, session_id, event_name, event_at
    from {{ ref('fct_events') }}
    where customer_key is not null
        and event_at <= {{ kairos_now() }}

),

summarised as (

    select
        customer_key,
        count(*) as events_count,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        {%- for name, condition in signals.items() %}
        {%- if name == 'visits' %}
        count(distinct case
            when {{ condition }} and event_at > {{ dbt.dateadd('day', -window_days, kairos_now()) }} then session_id
        end) as recent_{{ name }}{{ ',' if not loop.last }}
        {%- else %}
        sum(case
            when {{ condition }} and event_at > {{ dbt.dateadd('day', -window_days, kairos_now()) }} then 1 else 0
        end) as recent_{{ name }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from events
    group by 1

),

scored as (

    select
        summarised.*,
        (
            {%- for name in signals %}
            {{ weights.get(name, 0) }} * recent_{{ name }}{{ ' +' if not loop.last }}
            {%- endfor %}
        ) as intent_points
    from summarised

),

active_hours as (

    select customer_key, {{ dbt.date_trunc('hour', 'event_at') }} as active_hour_at
    from events
    group by 1, 2

),

local_hours as (

    select
        active_hours.customer_key,
        {{ kairos_hour_of('active_hours.active_hour_at') }} as utc_hour,
        case
            when crm.time_zone is not null
                then {{ kairos_hour_of(kairos_utc_to_local('active_hours.active_hour_at', 'crm.time_zone')) }}
        end as local_hour
    from active_hours
    left join {{ ref('int_customer_crm_attributes') }} as crm
        on active_hours.customer_key = crm.customer_key

),

usual_local_hours as (

    select customer_key, local_hour as usual_active_hour
    from (
        select
            customer_key,
            local_hour,
            row_number() over (partition by customer_key order by count(*) desc, local_hour) as hour_rank
        from local_hours
        where local_hour is not null
        group by 1, 2
    ) as ranked
    where hour_rank = 1

),

usual_utc_hours as (

    select customer_key, utc_hour as usual_active_hour_utc
    from (
        select
            customer_key,
            utc_hour,
            row_number() over (partition by customer_key order by count(*) desc, utc_hour) as hour_rank
        from local_hours
        group by 1, 2
    ) as ranked
    where hour_rank = 1

)

select
    scored.*,
    cast(round(cast(100 * (1 - exp(-scored.intent_points / {{ var('kairos__intent_scale') }})) as numeric), 1) as numeric(5, 1))
        as purchase_intent_score,
    usual_local_hours.usual_active_hour,
    usual_utc_hours.usual_active_hour_utc
from scored
left join usual_local_hours
    on scored.customer_key = usual_local_hours.customer_key
left join usual_utc_hours
    on scored.customer_key = usual_utc_hours.customer_key
