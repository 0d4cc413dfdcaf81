{#- Lifecycle stage of every known person as of kairos_now():
    - prospect: known (registered or left an email) but never ordered
    - new:      first order within kairos__lifecycle_new_days
    - active:   last order within kairos__lifecycle_active_days
    - dormant:  last order within kairos__lifecycle_dormant_days
    - lost:     last order longer ago than that
    Cancelled orders do not count as orders. The rule is the macro
    kairos_lifecycle_stage, shared with dim_customers.lifecycle_stage. -#}
with

customers as (

    select customer_key, registered_at, first_order_at, last_order_at, orders_count
    from {{ ref('dim_customers') }}

),

measured as (

    select
        customer_key,
        orders_count,
        {{ dbt.datediff('first_order_at', kairos_now(), 'day') }} as days_since_first_order,
        {{ dbt.datediff('last_order_at', kairos_now(), 'day') }} as days_since_last_order,
        {{ dbt.datediff('registered_at', kairos_now(), 'day') }} as days_since_registration
    from customers

),

final as (

    select
        customer_key,
        {{ kairos_lifecycle_stage('orders_count', 'days_since_first_order', 'days_since_last_order') }} as lifecycle_stage,
        orders_count,
        days_since_first_order,
        days_since_last_order,
        days_since_registration,
        {{ kairos_now() }} as as_of
    from measured

)

select * from final
