{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Every known person's clock as of kairos_now(): the time zone used for
    them (the CRM zone when the seed time_zones knows it, else the registry's
    default_time_zone), the local time now, the local date and the UTC
    instant of local midnight (start of the calendar day for day caps,
    birthdays and anniversaries). -#}
{%- set default_tz = kairos_guard('default_time_zone') -%}

with

customers as (

    select customer_key, time_zone
    from {{ ref('dim_customers') }}

),

zones as (

    select time_zone from {{ ref('time_zones') }}

),

zoned as (

    select
        customers.customer_key,
        coalesce(zones.time_zone, '{{ default_tz }}') as time_zone,
        zones.time_zone is not null as has_known_time_zone
    from customers
    left join zones
        on customers.time_zone = zones.time_zone

),

localised as (

    select
        customer_key,
        time_zone,
        has_known_time_zone,
        {{ kairos_utc_to_local(kairos_now(), 'time_zone') }} as local_now
    from zoned

),

final as (

    select
        customer_key,
        time_zone,
        has_known_time_zone,
        local_now,
        cast(local_now as date) as local_today,
        {{ kairos_local_to_utc(kairos_local_midnight('local_now'), 'time_zone') }} as local_day_start_at
    from localised

)

select * from final
