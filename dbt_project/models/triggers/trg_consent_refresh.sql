{#- Consent refresh (re-permission): people whose email consent was last
    granted more than params.min_consent_age_days days ago, who were sent
    email in the last params.engagement_lookback_days days but neither
    opened nor clicked any. Due when the consent reached that age; the
    occurrence is the consent's date. -#}
{%- set min_age_days = kairos_scenario_param('consent_refresh', 'min_consent_age_days') | int -%}
{%- set lookback_days = kairos_scenario_param('consent_refresh', 'engagement_lookback_days') | int -%}

with

consents as (

    select customer_key, consent_changed_at
    from {{ ref('int_consents_resolved') }}
    where channel = 'email'
        and has_consent
        and consent_changed_at <= {{ dbt.dateadd('day', -min_age_days, kairos_now()) }}

),

identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

emails as (

    select
        identities.customer_key,
        max(case when contacts.event_type in ('opened', 'clicked') then contacts.occurred_at end) as last_engaged_at,
        sum(case
            when contacts.event_type = 'sent'
                and contacts.occurred_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }} then 1
            else 0
        end) as recent_sends,
        sum(case
            when contacts.event_type in ('opened', 'clicked')
                and contacts.occurred_at > {{ dbt.dateadd('day', -lookback_days, kairos_now()) }} then 1
            else 0
        end) as recent_engagements
    from {{ ref('stg_messaging__contact_history') }} as contacts
    inner join identities
        on contacts.customer_id = identities.customer_id
    where contacts.channel = 'email'
        and contacts.occurred_at <= {{ kairos_now() }}
    group by 1

),

final as (

    select
        -- trigger contract
        consents.customer_key,
        {{ dbt.concat(["'consent-'", "cast(cast(consents.consent_changed_at as date) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        {{ dbt.dateadd('day', min_age_days, 'consents.consent_changed_at') }} as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        consents.consent_changed_at as consent_granted_at,
        emails.last_engaged_at

    from consents
    inner join emails
        on consents.customer_key = emails.customer_key
    where emails.recent_sends > 0
        and emails.recent_engagements = 0

)

select * from final
