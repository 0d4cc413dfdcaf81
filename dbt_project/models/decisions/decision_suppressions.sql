{#- tag batch: built from batch layers only (profiles, orders, segments,
    contact history); the real-time path reads it -#}
{{ config(tags=['batch']) }}

{#- Who must not get marketing now, and why, one row per person, kind and
    reference. The raw contract has no ticketing system or paid-media plan:
    - open_case: an open complaint or support case, modelled as a spam
      complaint in contact history in the last 30 days or an order returned
      in the last 14 days (a return in progress); suppresses every
      marketing scenario;
    - paid_campaign: the person is in the audience of an active paid-media
      campaign (seed paid_campaigns: lifecycle stage, ads consent) pushing
      the same offer (scenario); suppresses that scenario only.
    Transactional scenarios are never suppressed. -#}
with

identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

complaints as (

    select
        identities.customer_key,
        'open_case' as suppression,
        cast(null as {{ dbt.type_string() }}) as scenario_id,
        history.message_id as reference,
        {{ dbt.concat(["'complaint on '", 'history.channel', "' at '", "cast(history.occurred_at as " ~ dbt.type_string() ~ ")"]) }} as details,
        history.occurred_at as active_from,
        {{ dbt.dateadd('day', 30, 'history.occurred_at') }} as active_until
    from {{ ref('stg_messaging__contact_history') }} as history
    inner join identities
        on history.customer_id = identities.customer_id
    where history.event_type = 'complained'
        and history.occurred_at <= {{ kairos_now() }}
        and history.occurred_at > {{ dbt.dateadd('day', -30, kairos_now()) }}

),

returns as (

    select
        customer_key,
        'open_case' as suppression,
        cast(null as {{ dbt.type_string() }}) as scenario_id,
        order_id as reference,
        {{ dbt.concat(["'return of order '", 'order_id', "' since '", "cast(updated_at as " ~ dbt.type_string() ~ ")"]) }} as details,
        updated_at as active_from,
        {{ dbt.dateadd('day', 14, 'updated_at') }} as active_until
    from {{ ref('fct_orders') }}
    where customer_key is not null
        and status = 'returned'
        and updated_at <= {{ kairos_now() }}
        and updated_at > {{ dbt.dateadd('day', -14, kairos_now()) }}

),

campaigns as (

    select
        campaigns.*,
        {{ dbt.dateadd('day', 'campaigns.starts_offset_days', dbt.date_trunc('day', kairos_now())) }} as starts_at,
        {{ dbt.dateadd('day', 'campaigns.ends_offset_days', dbt.date_trunc('day', kairos_now())) }} as ends_at
    from {{ ref('paid_campaigns') }} as campaigns

),

paid as (

    select
        stages.customer_key,
        'paid_campaign' as suppression,
        campaigns.offer_scenario_id as scenario_id,
        campaigns.campaign_id as reference,
        {{ dbt.concat(["'paid campaign '", 'campaigns.campaign_id', "' on '", 'campaigns.platform']) }} as details,
        campaigns.starts_at as active_from,
        campaigns.ends_at as active_until
    from campaigns
    inner join {{ ref('seg_lifecycle_stage') }} as stages
        on campaigns.audience_lifecycle_stage = stages.lifecycle_stage
    inner join {{ ref('dim_customers') }} as customers
        on stages.customer_key = customers.customer_key
    where customers.ads_consent
        and campaigns.starts_at <= {{ kairos_now() }}
        and campaigns.ends_at > {{ kairos_now() }}

),

unioned as (

    select * from complaints
    union all
    select * from returns
    union all
    select * from paid

),

final as (

    select
        {{ kairos_surrogate_key(['customer_key', 'suppression', 'reference']) }} as suppression_id,
        customer_key,
        suppression,
        scenario_id,
        reference,
        details,
        cast(active_from as {{ dbt.type_timestamp() }}) as active_from,
        cast(active_until as {{ dbt.type_timestamp() }}) as active_until
    from (
        select
            unioned.*,
            row_number() over (partition by customer_key, suppression, reference order by active_from desc) as copy_rank
        from unioned
    ) as deduplicated
    where copy_rank = 1

)

select * from final
