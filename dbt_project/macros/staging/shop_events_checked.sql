{#- Raw shop events typed and validated row by row: the checks that need no
    other row (ids, timestamps, event names, identity). base_shop__events adds
    the cross-row ones (raw row key, first copy received wins) over the whole
    click stream; the incremental int_events_staged calls it with `where` on
    the raw table, so a micro-batch types only its own rows (a filter cannot
    reach the raw scan through a window function). -#}
{% macro shop_events_checked(source_relation, where=none) -%}
    with

    source as (

        select * from {{ source_relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}

    ),

    event_name_map as (

        select distinct
            {{ kairos_event_name_key('raw_event_name') }} as event_name_key,
            canonical_event_name
        from {{ ref('event_name_map') }}

    ),

    hashed as (

        select
            source.*,
            {{ kairos_surrogate_key([
                'event_id', 'event_name', 'source', 'anonymous_id', 'customer_id', 'email',
                'session_id', 'cart_id', 'product_id', 'quantity', 'price', 'order_id',
                'push_token', 'page_url', 'event_ts', 'received_at'
            ]) }} as raw_row_hash
        from source

    ),

    typed as (

        select
            hashed.*,

            -- ids
            {{ kairos_clean_text('hashed.event_id') }} as clean_event_id,
            {{ kairos_clean_text('hashed.anonymous_id') }} as clean_anonymous_id,
            {{ kairos_clean_text('hashed.customer_id') }} as clean_customer_id,
            {{ kairos_clean_text('hashed.session_id') }} as clean_session_id,
            {{ kairos_clean_text('hashed.cart_id') }} as clean_cart_id,
            {{ kairos_clean_text('hashed.product_id') }} as clean_product_id,
            {{ kairos_clean_text('hashed.order_id') }} as clean_order_id,

            -- strings
            event_name_map.canonical_event_name,
            lower({{ kairos_clean_text('hashed.source') }}) as clean_source,
            {{ normalise_email('hashed.email') }} as email_normalised,
            {{ kairos_clean_text('hashed.push_token') }} as clean_push_token,
            {{ kairos_clean_text('hashed.page_url') }} as clean_page_url,

            -- numerics
            cast(hashed.quantity as integer) as quantity_int,
            cast(hashed.price as numeric(18, 2)) as price_amount,

            -- timestamps
            {{ try_cast_timestamp('cast(hashed.event_ts as ' ~ dbt.type_string() ~ ')') }} as event_at,
            cast(hashed.received_at as {{ dbt.type_timestamp() }}) as received_at_ts

        from hashed
        left join event_name_map
            on {{ kairos_event_name_key('hashed.event_name') }} = event_name_map.event_name_key

    )

    select
        typed.*,
        case
            when clean_event_id is null then 'missing_event_id'
            when event_at is null then 'unparseable_timestamp'
            when canonical_event_name is null then 'unknown_event_name'
            when clean_anonymous_id is null and clean_customer_id is null then 'missing_identity'
        end as validation_reason
    from typed
{%- endmacro %}
