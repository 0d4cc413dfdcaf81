{#- Birthday: people whose birthday (CRM) is today in their own time zone.
    Someone born on 29 February is greeted on 28 February in other years.
    triggered_at is local midnight of the birthday (UTC), so the message is
    due all day and the decision layer picks the send time. -#}
with

customers as (

    select
        customers.customer_key,
        customers.birthday,
        clocks.local_today,
        clocks.local_day_start_at
    from {{ ref('dim_customers') }} as customers
    inner join {{ ref('int_customers_localised') }} as clocks
        on customers.customer_key = clocks.customer_key
    where customers.birthday is not null

),

matched as (

    select *
    from customers
    where (
            extract(month from birthday) = extract(month from local_today)
            and extract(day from birthday) = extract(day from local_today)
        )
        or (
            -- 29 February birthdays on 28 February of a year without one
            extract(month from birthday) = 2 and extract(day from birthday) = 29
            and extract(month from local_today) = 2 and extract(day from local_today) = 28
            and extract(month from {{ dbt.dateadd('day', 1, 'local_today') }}) = 3
        )

),

final as (

    select
        -- trigger contract
        customer_key,
        {{ dbt.concat(["'birthday-'", "cast(extract(year from local_today) as " ~ dbt.type_string() ~ ")"]) }} as trigger_ref,
        local_day_start_at as triggered_at,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        birthday,

        -- context
        local_today

    from matched

)

select * from final
