with

source as (

    select * from {{ ref('base_shop__orders') }}
    where reject_reason is null
        and not is_superseded

),

renamed as (

    select
        -- ids
        clean_order_id as order_id,
        clean_customer_id as customer_id,
        clean_store_id as store_id,

        -- strings
        email_normalised as email,
        phone_e164 as phone,
        clean_status as status,
        clean_source as source,
        clean_currency as currency,

        -- numerics
        order_total_amount as order_total,
        discount_total_amount as discount_total,

        -- booleans
        clean_status not in ('cancelled', 'returned') as is_revenue,

        -- timestamps
        ordered_at_ts as ordered_at,
        delivered_at_ts as delivered_at,
        updated_at_ts as updated_at

    from source

)

select * from renamed
