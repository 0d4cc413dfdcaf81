{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Real-time upsell: sessions active in the last params.active_minutes
    minutes with a product view by an identified person; the offer is a
    pricier variant (same brand and category, params.min_price_ratio to
    params.max_price_ratio times the price) of the product viewed last, in
    stock, best margin first. One per session. -#}
{%- set active_minutes = kairos_scenario_param('realtime_upsell', 'active_minutes') | int -%}
{%- set min_ratio = kairos_scenario_param('realtime_upsell', 'min_price_ratio') -%}
{%- set max_ratio = kairos_scenario_param('realtime_upsell', 'max_price_ratio') -%}

with

recent as (

    select customer_key, session_id, event_name, product_id, event_at, event_id
    from {{ kairos_trigger_events() }}
    where customer_key is not null
        and session_id is not null
        and event_at <= {{ kairos_now() }}
        and event_at > {{ dbt.dateadd('minute', -active_minutes, kairos_now()) }}

),

last_views as (

    select customer_key, session_id, product_id, event_at
    from (
        select
            recent.*,
            row_number() over (partition by session_id order by event_at desc, event_id) as view_rank
        from recent
        where event_name = 'product_view'
            and product_id is not null
    ) as ranked
    where view_rank = 1

),

offers as (

    select
        last_views.customer_key,
        last_views.session_id,
        last_views.product_id as viewed_product_id,
        last_views.event_at as viewed_at,
        variants.product_id,
        variants.product_name,
        variants.current_price,
        row_number() over (
            partition by last_views.session_id
            order by variants.margin_rate desc, variants.current_price, variants.product_id
        ) as offer_rank
    from last_views
    inner join {{ ref('dim_products') }} as viewed
        on last_views.product_id = viewed.product_id
    inner join {{ ref('dim_products') }} as variants
        on viewed.category = variants.category
        and viewed.brand = variants.brand
        and viewed.product_id <> variants.product_id
        and variants.is_in_stock
        and variants.current_price >= viewed.current_price * {{ min_ratio }}
        and variants.current_price <= viewed.current_price * {{ max_ratio }}

),

final as (

    select
        -- trigger contract
        customer_key,
        session_id as trigger_ref,
        viewed_at as triggered_at,
        product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        session_id,
        viewed_product_id,
        product_name,
        cast(current_price as numeric(18, 2)) as price

    from offers
    where offer_rank = 1

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
