{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The unified profile: one row per known person (a customer_key whose
    identifiers include a customer_id, an email or a phone, so that a guest
    who ordered with only a phone is a profile like the orders say; purely
    anonymous visitors are not profiles), as of kairos_now().

    - identity: the anchor customer id, identifier counts;
    - CRM attributes of the anchor customer (int_customer_crm_attributes);
    - contact points: CRM, else the latest seen at checkout or on events;
      the push token of the latest app install; consent per channel (latest
      wins, withdrawal at once: int_consents_resolved) and the contact points
      usable now (*_reachable);
    - orders: counts, revenue, margin, average order value, discounts,
      historic CLV, RFM scores and group, lifecycle stage;
    - behaviour: first/last seen, purchase-intent score, usual active hour,
      preferred channel (engagement history), top categories;
    - predictive traits (source kairos_traits.customer_clv, written by
      kairos.traits): null with trait_status saying why when not available.
-#}
{%- set channels = ['email', 'sms', 'push', 'ads'] -%}
{%- set traits = none -%}
{%- if execute -%}
    {%- set traits_source = source('kairos_traits', 'customer_clv') -%}
    {%- set traits = adapter.get_relation(
        database=traits_source.database, schema=traits_source.schema, identifier=traits_source.identifier
    ) -%}
{%- endif -%}
{%- set min_orders_for_discount = var('kairos__discount_sensitivity_min_orders') | int -%}
-- depends_on: {{ ref('dim_customer_key_map') }}

with

identities as (

    select * from {{ ref('int_identities_stitched') }}
    where customer_key is not null

),

people as (

    select
        customer_key,
        max(anchor_customer_id) as anchor_customer_id,
        cast(sum(case when identifier_type = 'customer_id' then 1 else 0 end) as integer) as customer_ids_count,
        cast(sum(case when identifier_type = 'email' then 1 else 0 end) as integer) as emails_count,
        cast(sum(case when identifier_type = 'phone' then 1 else 0 end) as integer) as phones_count,
        cast(sum(case when identifier_type = 'anonymous_id' then 1 else 0 end) as integer) as devices_count,
        cast(count(*) as integer) as identifiers_count
    from identities
    group by 1
    having sum(case when identifier_type in ('customer_id', 'email', 'phone') then 1 else 0 end) > 0

),

crm as (

    select * from {{ ref('int_customer_crm_attributes') }}

),

order_stats as (

    select * from {{ ref('int_customer_orders_summarised') }}

),

event_stats as (

    select * from {{ ref('int_customer_events_summarised') }}

),

contact_points as (

    select * from {{ ref('int_customer_contact_points') }}

),

consents as (

    select
        customer_key,
        {%- for channel in channels %}
        max(case when channel = '{{ channel }}' and has_consent then 1 else 0 end) = 1 as {{ channel }}_consent,
        max(case when channel = '{{ channel }}' then consent_changed_at end) as {{ channel }}_consent_changed_at{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_consents_resolved') }}
    group by 1

),

hard_bounces as (

    select
        identities.customer_key,
        max(contacts.occurred_at) as email_hard_bounced_at
    from {{ ref('stg_messaging__contact_history') }} as contacts
    inner join identities
        on identities.identifier_type = 'customer_id'
        and contacts.customer_id = identities.identifier_value
    where contacts.channel = 'email'
        and contacts.event_type = 'bounced'
        and contacts.bounce_type = 'hard'
        and contacts.occurred_at <= {{ kairos_now() }}
    group by 1

),

engagement as (

    select customer_key, channel as engaged_channel
    from (
        select
            customer_key,
            channel,
            row_number() over (
                partition by customer_key
                order by engagement_rate desc, last_engaged_at desc, channel
            ) as channel_rank
        from {{ ref('int_customer_channel_engagement') }}
        where messages_opened + messages_clicked > 0
    ) as ranked
    where channel_rank = 1

),

categories as (

    select
        customer_key,
        max(case when category_rank = 1 then category end) as top_category,
        {{ dbt.listagg('category', "','", 'order by category_rank') }} as top_categories
    from {{ ref('int_customer_category_affinity') }}
    where category_rank <= 3
        and affinity_score > 0
    group by 1

),

{% if traits is not none %}
traits as (

    select
        key_map.current_customer_key as customer_key,
        scored.probability_active,
        scored.expected_purchases_90d,
        scored.predicted_clv_12m,
        scored.expected_next_order_at,
        scored.churn_risk_band,
        scored.trait_status,
        -- after a merge two scored keys may point at one person: the key still in use wins
        row_number() over (
            partition by key_map.current_customer_key
            order by case when scored.customer_key = key_map.current_customer_key then 0 else 1 end,
                scored.predicted_clv_12m desc,
                scored.customer_key
        ) as trait_rank
    from {{ traits }} as scored
    inner join {{ ref('dim_customer_key_map') }} as key_map
        on scored.customer_key = key_map.customer_key
    where key_map.current_customer_key is not null

),
{% endif %}

joined as (

    select
        people.customer_key,
        coalesce(crm.customer_id, people.anchor_customer_id) as customer_id,
        people.identifiers_count,
        people.customer_ids_count,
        people.emails_count,
        people.phones_count,
        people.devices_count,
        coalesce(crm.email, contact_points.latest_email) as email,
        coalesce(crm.phone, contact_points.latest_phone) as phone,
        contact_points.latest_push_token as push_token,
        contact_points.push_token_registered_at,
        crm.first_name,
        crm.last_name,
        crm.city,
        crm.country_code,
        crm.time_zone,
        crm.acquisition_source,
        crm.birthday,
        coalesce(crm.has_invalid_birthday, false) as has_invalid_birthday,
        crm.registered_at,
        crm.customer_id is not null as is_registered,
        {%- set seen = ['event_stats.first_event_at', 'order_stats.first_order_at', 'crm.registered_at'] %}
        {%- set last_seen = ['event_stats.last_event_at', 'order_stats.last_order_at', 'crm.registered_at'] %}
        {{ kairos_least_not_null(seen) }} as first_seen_at,
        {{ kairos_greatest_not_null(last_seen) }} as last_seen_at,
        cast(coalesce(order_stats.orders_count, 0) as integer) as orders_count,
        cast(coalesce(order_stats.revenue_orders_count, 0) as integer) as revenue_orders_count,
        cast(coalesce(order_stats.returned_orders_count, 0) as integer) as returned_orders_count,
        coalesce(order_stats.revenue, 0) as revenue,
        coalesce(order_stats.margin, 0) as margin,
        cast(coalesce(order_stats.items_purchased, 0) as integer) as items_purchased,
        cast(coalesce(order_stats.discounted_orders_count, 0) as integer) as discounted_orders_count,
        coalesce(order_stats.discount_total, 0) as discount_total,
        order_stats.first_order_at,
        order_stats.last_order_at,
        order_stats.days_since_first_order,
        order_stats.days_since_last_order,
        cast(coalesce(event_stats.events_count, 0) as integer) as events_count,
        cast(coalesce(event_stats.recent_visits, 0) as integer) as recent_visits,
        cast(coalesce(event_stats.recent_product_views, 0) as integer) as recent_product_views,
        cast(coalesce(event_stats.recent_return_policy_views, 0) as integer) as recent_return_policy_views,
        cast(coalesce(event_stats.recent_wishlist_adds, 0) as integer) as recent_wishlist_adds,
        cast(coalesce(event_stats.recent_cart_adds, 0) as integer) as recent_cart_adds,
        coalesce(event_stats.purchase_intent_score, 0) as purchase_intent_score,
        event_stats.usual_active_hour,
        event_stats.usual_active_hour_utc,
        engagement.engaged_channel,
        categories.top_category,
        categories.top_categories,
        {%- for channel in channels %}
        coalesce(consents.{{ channel }}_consent, false) as {{ channel }}_consent,
        consents.{{ channel }}_consent_changed_at,
        {%- endfor %}
        hard_bounces.email_hard_bounced_at
        {%- if traits is not none %},
        traits.probability_active,
        traits.expected_purchases_90d,
        traits.predicted_clv_12m,
        traits.expected_next_order_at,
        traits.churn_risk_band,
        traits.trait_status as scored_trait_status
        {%- endif %}
    from people
    left join crm
        on people.customer_key = crm.customer_key
    left join order_stats
        on people.customer_key = order_stats.customer_key
    left join event_stats
        on people.customer_key = event_stats.customer_key
    left join contact_points
        on people.customer_key = contact_points.customer_key
    left join consents
        on people.customer_key = consents.customer_key
    left join hard_bounces
        on people.customer_key = hard_bounces.customer_key
    left join engagement
        on people.customer_key = engagement.customer_key
    left join categories
        on people.customer_key = categories.customer_key
    {%- if traits is not none %}
    left join traits
        on people.customer_key = traits.customer_key
        and traits.trait_rank = 1
    {%- endif %}

),

reachability as (

    select
        joined.*,
        (email is not null and email_consent and email_hard_bounced_at is null) as email_reachable,
        (phone is not null and sms_consent) as sms_reachable,
        (push_token is not null and push_consent) as push_reachable,
        ((email is not null or phone is not null) and ads_consent) as ads_reachable
    from joined

),

scored as (

    select
        reachability.*,
        {{ kairos_quintile_score('days_since_last_order desc', 'orders_count > 0') }} as rfm_recency_score,
        {{ kairos_quintile_score('orders_count', 'orders_count > 0') }} as rfm_frequency_score,
        {{ kairos_quintile_score('revenue', 'orders_count > 0') }} as rfm_monetary_score
    from reachability

),

final as (

    select
        -- ids
        customer_key,
        customer_id,

        -- identity
        identifiers_count,
        customer_ids_count,
        emails_count,
        phones_count,
        devices_count,

        -- contact points
        email,
        phone,
        phone as phone_e164,
        push_token,

        -- attributes
        first_name,
        last_name,
        city,
        country_code,
        time_zone,
        acquisition_source,
        birthday,
        has_invalid_birthday,
        is_registered,

        -- orders
        orders_count,
        revenue,
        cast(case when orders_count > 0 then revenue / orders_count end as numeric(18, 2)) as average_order_value,
        revenue_orders_count,
        returned_orders_count,
        cast(margin as numeric(18, 2)) as margin,
        items_purchased,
        cast(revenue as numeric(18, 2)) as historic_clv,
        discounted_orders_count,
        cast(discount_total as numeric(18, 2)) as discount_total,
        -- share of the person's paid orders bought with a discount; needs a few orders to mean anything
        case
            when revenue_orders_count >= {{ min_orders_for_discount }}
                then cast(1.0 * discounted_orders_count / revenue_orders_count as numeric(5, 4))
        end as discount_sensitivity,
        coalesce(
            revenue_orders_count >= {{ min_orders_for_discount }}
            and 1.0 * discounted_orders_count / revenue_orders_count >= {{ var('kairos__discount_sensitive_share') }},
            false
        ) as is_discount_sensitive,

        -- RFM and lifecycle
        days_since_first_order,
        days_since_last_order,
        rfm_recency_score,
        rfm_frequency_score,
        rfm_monetary_score,
        case
            when rfm_recency_score is not null
                then {{ dbt.concat(['cast(rfm_recency_score as ' ~ dbt.type_string() ~ ')',
                                    'cast(rfm_frequency_score as ' ~ dbt.type_string() ~ ')',
                                    'cast(rfm_monetary_score as ' ~ dbt.type_string() ~ ')']) }}
        end as rfm_score,
        {{ kairos_rfm_segment('rfm_recency_score', 'rfm_frequency_score', 'rfm_monetary_score') }} as rfm_segment,
        {{ kairos_lifecycle_stage('orders_count', 'days_since_first_order', 'days_since_last_order') }} as lifecycle_stage,

        -- behaviour
        events_count,
        recent_visits,
        recent_product_views,
        recent_return_policy_views,
        recent_wishlist_adds,
        recent_cart_adds,
        purchase_intent_score,
        usual_active_hour,
        usual_active_hour_utc,
        top_category,
        top_categories,
        -- the channel the person engages with most; without engagement history the first reachable one
        case
            when engaged_channel is not null then engaged_channel
            when email_reachable then 'email'
            when push_reachable then 'push'
            when sms_reachable then 'sms'
        end as preferred_channel,
        case
            when engaged_channel is not null then 'engagement'
            when email_reachable or push_reachable or sms_reachable then 'reachability'
        end as preferred_channel_basis,

        -- consent per channel (current state)
        {%- for channel in channels %}
        {{ channel }}_consent,
        {{ channel }}_consent_changed_at,
        {%- endfor %}

        -- reachable contact points: a valid address and consent on the channel
        email_reachable,
        sms_reachable,
        push_reachable,
        ads_reachable,

        -- predictive traits (BG/NBD + Gamma-Gamma), when available
        {%- if traits is not none %}
        probability_active,
        expected_purchases_90d,
        predicted_clv_12m,
        expected_next_order_at,
        churn_risk_band,
        case
            when revenue_orders_count = 0 then 'no_orders'
            when scored_trait_status is null then 'not_scored'
            else scored_trait_status
        end as trait_status,
        {%- else %}
        cast(null as {{ dbt.type_float() }}) as probability_active,
        cast(null as {{ dbt.type_float() }}) as expected_purchases_90d,
        cast(null as {{ dbt.type_float() }}) as predicted_clv_12m,
        cast(null as {{ dbt.type_timestamp() }}) as expected_next_order_at,
        cast(null as {{ dbt.type_string() }}) as churn_risk_band,
        case when revenue_orders_count = 0 then 'no_orders' else 'not_scored' end as trait_status,
        {%- endif %}

        -- timestamps
        registered_at,
        first_seen_at,
        last_seen_at,
        first_order_at,
        last_order_at,
        push_token_registered_at,
        email_hard_bounced_at,
        {{ kairos_now() }} as profile_as_of

    from scored

)

select * from final
