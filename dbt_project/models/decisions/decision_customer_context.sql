{#- tag batch: everything here comes from batch layers (profiles, identity,
    contact history), so the real-time path reads it rather than rebuilding it
    for every person on every micro-batch -#}
{{ config(tags=['batch'], post_hook="{{ kairos_analyze() }}") }}

{#- What the guards need to know about each person, as of kairos_now():
    contact points and consent per channel, the profile attributes the
    decision layer uses (from dim_customers: preferred_channel, the usual
    active hour in local time, discount_sensitivity = share of paid orders
    bought on discount), a hard bounce on the email, the clock (the time
    zone used for them and the UTC instant of local midnight, from
    int_customers_localised) and the sales owner of a business customer
    (seed b2b_accounts). -#}

with

customers as (

    select
        customer_key, customer_id, email, phone, push_token, first_name, city,
        email_consent, sms_consent, push_consent, ads_consent,
        preferred_channel, usual_active_hour, discount_sensitivity
    from {{ ref('dim_customers') }}

),

clocks as (

    select customer_key, time_zone, local_day_start_at
    from {{ ref('int_customers_localised') }}

),

identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

hard_bounces as (

    select identities.customer_key, max(history.occurred_at) as email_hard_bounced_at
    from {{ ref('stg_messaging__contact_history') }} as history
    inner join identities
        on history.customer_id = identities.customer_id
    where history.channel = 'email'
        and history.event_type = 'bounced'
        and history.bounce_type = 'hard'
        and history.occurred_at <= {{ kairos_now() }}
    group by 1

),

accounts as (

    select customers.customer_key, b2b.account_name, b2b.sales_owner_email
    from customers
    inner join {{ ref('b2b_accounts') }} as b2b
        on {{ dbt.split_part('customers.email', "'@'", 2) }} = b2b.email_domain

),

final as (

    select
        -- ids
        customers.customer_key,
        customers.customer_id,

        -- contact points
        customers.email,
        customers.phone,
        customers.push_token,
        accounts.sales_owner_email,

        -- attributes
        customers.first_name,
        customers.city,
        accounts.account_name,
        clocks.time_zone,
        customers.preferred_channel,
        cast(customers.usual_active_hour as integer) as usual_active_hour,
        cast(customers.discount_sensitivity as numeric(6, 4)) as discounted_order_share,

        -- consent (current)
        coalesce(customers.email_consent, false) as email_consent,
        coalesce(customers.sms_consent, false) as sms_consent,
        coalesce(customers.push_consent, false) as push_consent,
        coalesce(customers.ads_consent, false) as ads_consent,
        hard_bounces.email_hard_bounced_at is not null as email_hard_bounced,

        -- timestamps
        clocks.local_day_start_at,
        hard_bounces.email_hard_bounced_at

    from customers
    inner join clocks
        on customers.customer_key = clocks.customer_key
    left join hard_bounces
        on customers.customer_key = hard_bounces.customer_key
    left join accounts
        on customers.customer_key = accounts.customer_key

)

select * from final
