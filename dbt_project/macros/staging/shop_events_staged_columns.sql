{#- The columns of a staged event, from a row of base_shop__events or of
    shop_events_checked: the renaming stg_shop__events and the incremental
    int_events_staged share. -#}
{% macro shop_events_staged_columns() -%}
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
{%- endmacro %}
