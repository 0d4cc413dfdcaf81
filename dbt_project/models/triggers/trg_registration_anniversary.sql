{#- Registration anniversary: people who registered one or more years ago
    on this local calendar day (29 February registrations on 28 February in
    other years). -#}
with

customers as (

    select
        customers.customer_key,
        customers.registered_at,
        cast({{ kairos_utc_to_local('customers.registered_at', 'clocks.time_zone') }} as date) as registered_on,
        clocks.local_today,
        clocks.local_day_start_at
    from {{ ref('dim_customers') }} as customers
    inner join {{ ref('int_customers_localised') }} as clocks
        on customers.customer_key = clocks.customer_key
    where customers.registered_at is not null
        and customers.registered_at <= {{ kairos_now() }}

),

matched as (

    select
        *,
        cast(extract(year from local_today) - extract(year from registered_on) as integer) as years
    from customers
    where (
            extract(month from registered_on) = extract(month from local_today)
            and extract(day from registered_on) = extract(day from local_today)
        )
        or (
            extract(month from registered_on) = 2 and extract(day from registered_on) = 29
            and extract(month from local_today) = 2 and extract(day from local_today) = 28
            and extract(month from {{ dbt.dateadd('day', 1, 'local_today') }}) = 3
        )

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(["'anniversary-'", "cast(years as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        local_day_start_at as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        years,
        registered_at

    from matched
    where years >= 1

)

select * from final
