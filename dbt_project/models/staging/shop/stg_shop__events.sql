with

source as (

    select * from {{ ref('base_shop__events') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        clean_event_id as event_id,
        clean_anonymous_id as anonymous_id,
        clean_customer_id as customer_id,
        clean_session_id as session_id,
        clean_cart_id as cart_id,
        clean_product_id as product_id,
        clean_order_id as order_id,

        -- strings
        canonical_event_name as event_name,
        clean_source as source,
        email_normalised as email,
        clean_push_token as push_token,
        clean_page_url as page_url,

        -- numerics
        quantity_int as quantity,
        price_amount as price,

        -- timestamps
        event_at,
        received_at_ts as received_at

    from source

)

select * from renamed
