{#- Welcome series: people who registered in the last params.max_age_days
    days (CRM registration). One occurrence per person; the registry's steps
    space the three messages from the registration time. -#}
{%- set max_age_days = kairos_scenario_param('welcome_series', 'max_age_days') | int -%}

with

customers as (

    select customer_key, registered_at, acquisition_source
    from {{ ref('dim_customers') }}
    where registered_at is not null
        and registered_at <= {{ kairos_now() }}
        and registered_at > {{ dbt.dateadd('day', -max_age_days, kairos_now()) }}

),

final as (

    select
        -- trigger contract
        customer_key,
        'registration' as trigger_ref,
        registered_at as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        coalesce(acquisition_source, 'unknown') as acquisition_source,
        registered_at

    from customers

)

select * from final
