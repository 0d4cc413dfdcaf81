{#- Every raw order status row, typed and checked. The order management
    system writes a row per status change: among the valid rows of an order
    the latest updated_at is current, the others are superseded history
    (kept out of staging and out of quarantine, counted by is_superseded). -#}
with

source as (

    select * from {{ source('shop', 'orders') }}

),

hashed as (

    select
        source.*,
        {{ kairos_surrogate_key([
            'order_id', 'customer_id', 'email', 'phone', 'status', 'source', 'store_id', 'currency',
            'order_total', 'discount_total', 'ordered_at', 'delivered_at', 'updated_at'
        ]) }} as raw_row_hash
    from source

),

typed as (

    select
        hashed.*,
        {{ kairos_raw_row_key() }} as raw_row_key,

        -- ids
        {{ kairos_clean_text('order_id') }} as clean_order_id,
        {{ kairos_clean_text('customer_id') }} as clean_customer_id,
        {{ kairos_clean_text('store_id') }} as clean_store_id,

        -- strings
        {{ normalise_email('email') }} as email_normalised,
        lower({{ kairos_clean_text('status') }}) as clean_status,
        lower({{ kairos_clean_text('source') }}) as clean_source,
        upper({{ kairos_clean_text('currency') }}) as clean_currency,

        -- numerics
        cast(order_total as numeric(18, 2)) as order_total_amount,
        coalesce(cast(discount_total as numeric(18, 2)), 0) as discount_total_amount,

        -- timestamps
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at_ts,
        cast(delivered_at as {{ dbt.type_timestamp() }}) as delivered_at_ts,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at_ts

    from hashed

),

with_country as (

    select
        typed.*,
        -- the checkout has no country: read national numbers with the CRM
        -- customer's country when the customer is known, else with the
        -- country of the email's top-level domain (a guest with a .fr
        -- address types a French number), else see normalise_phone
        coalesce(customers.country_code, {{ kairos_country_from_email('typed.email_normalised') }}) as phone_country_code
    from typed
    left join (
        select
            {{ kairos_clean_text('customer_id') }} as customer_id,
            max(country_code) as country_code
        from {{ source('crm', 'customers') }}
        group by 1
    ) as customers
        on typed.clean_customer_id = customers.customer_id

),

with_phone as (

    select
        with_country.*,
        {{ normalise_phone('with_country.phone', 'with_country.phone_country_code') }} as phone_e164
    from with_country

),

checked as (

    select
        with_phone.*,
        case
            when clean_order_id is null then 'missing_order_id'
            when order_total_amount is null then 'missing_amount'
            when order_total_amount < 0 then 'negative_amount'
            when clean_status is null
                or clean_status not in ('placed', 'shipped', 'delivered', 'cancelled', 'returned')
                then 'unknown_status'
            when ordered_at_ts is null then 'missing_ordered_at'
        end as reject_reason
    from with_phone

),

ranked as (

    select
        checked.*,
        case
            when reject_reason is null then
                row_number() over (
                    partition by clean_order_id, reject_reason
                    order by updated_at_ts desc, raw_row_key
                )
        end as version_number
    from checked

)

select
    ranked.*,
    coalesce(version_number > 1, false) as is_superseded
from ranked
