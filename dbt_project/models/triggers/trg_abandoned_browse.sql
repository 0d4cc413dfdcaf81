{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Abandoned browse: a product an identified person viewed at least
    params.min_views times in the last params.lookback_hours hours, the last
    view at least params.idle_hours ago, without adding it to a cart or
    buying it since the first of those views. One product per person: the
    most viewed (then the latest viewed). -#}
{%- set lookback_hours = kairos_scenario_param('abandoned_browse', 'lookback_hours') | int -%}
{%- set idle_hours = kairos_scenario_param('abandoned_browse', 'idle_hours') | int -%}
{%- set min_views = kairos_scenario_param('abandoned_browse', 'min_views') | int -%}

with

events as (

    select customer_key, event_name, product_id, price, event_at
    from {{ kairos_trigger_events() }}
    where customer_key is not null
        and product_id is not null
        and event_at <= {{ kairos_now() }}
        and event_at > {{ dbt.dateadd('hour', -lookback_hours, kairos_now()) }}

),

views as (

    select
        customer_key,
        product_id,
        count(*) as view_count,
        min(event_at) as first_viewed_at,
        max(event_at) as last_viewed_at
    from events
    where event_name = 'product_view'
    group by 1, 2
    having count(*) >= {{ min_views }}
        and max(event_at) <= {{ dbt.dateadd('hour', -idle_hours, kairos_now()) }}

),

carted as (

    select customer_key, product_id, min(event_at) as first_carted_at
    from events
    where event_name = 'add_to_cart'
    group by 1, 2

),

bought as (

    select customer_key, product_id, max(ordered_at) as last_bought_at
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and {{ kairos_in_decision_scope('customer_key') }}
    group by 1, 2

),

ranked as (

    select
        views.*,
        row_number() over (
            partition by views.customer_key
            order by views.view_count desc, views.last_viewed_at desc, views.product_id
        ) as product_rank
    from views
    left join carted
        on views.customer_key = carted.customer_key
        and views.product_id = carted.product_id
        and carted.first_carted_at >= views.first_viewed_at
    left join bought
        on views.customer_key = bought.customer_key
        and views.product_id = bought.product_id
        and bought.last_bought_at >= views.first_viewed_at
    where carted.customer_key is null
        and bought.customer_key is null

),

final as (

    select
        -- trigger contract
        ranked.customer_key,
        ranked.product_id as trigger_ref,
        {{ dbt.dateadd('hour', idle_hours, 'ranked.last_viewed_at') }} as triggered_at,
        ranked.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        products.product_name,
        cast(ranked.view_count as integer) as view_count,
        cast(products.current_price as numeric(18, 2)) as price,

        -- context
        ranked.last_viewed_at

    from ranked
    inner join {{ ref('dim_products') }} as products
        on ranked.product_id = products.product_id
    where ranked.product_rank = 1

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
