{#- real-time trigger, customer-scoped (macros/decisions/decision_scope.sql) -#}
{{ config(**kairos_customer_scoped()) }}

{#- Abandoned category: a category an identified person browsed (at least
    params.min_views product views over at least params.min_products
    products in the last params.lookback_hours hours, the last at least
    params.idle_hours ago) without carting or buying anything in it since.
    One category per person (most views); the promoted product is the one
    they viewed most in it. -#}
{%- set lookback_hours = kairos_scenario_param('abandoned_category', 'lookback_hours') | int -%}
{%- set idle_hours = kairos_scenario_param('abandoned_category', 'idle_hours') | int -%}
{%- set min_views = kairos_scenario_param('abandoned_category', 'min_views') | int -%}
{%- set min_products = kairos_scenario_param('abandoned_category', 'min_products') | int -%}

with

events as (

    select events.customer_key, events.event_name, events.product_id, events.event_at, products.category
    from {{ kairos_trigger_events() }} as events
    inner join {{ ref('dim_products') }} as products
        on events.product_id = products.product_id
    where events.customer_key is not null
        and events.event_at <= {{ kairos_now() }}
        and events.event_at > {{ dbt.dateadd('hour', -lookback_hours, kairos_now()) }}

),

category_views as (

    select
        customer_key,
        category,
        count(*) as view_count,
        count(distinct product_id) as product_count,
        min(event_at) as first_viewed_at,
        max(event_at) as last_viewed_at
    from events
    where event_name = 'product_view'
    group by 1, 2
    having count(*) >= {{ min_views }}
        and count(distinct product_id) >= {{ min_products }}
        and max(event_at) <= {{ dbt.dateadd('hour', -idle_hours, kairos_now()) }}

),

carted as (

    select customer_key, category, max(event_at) as last_carted_at
    from events
    where event_name = 'add_to_cart'
    group by 1, 2

),

bought as (

    select customer_key, category, max(ordered_at) as last_bought_at
    from {{ ref('int_order_lines_joined') }}
    where not is_cancelled
        and {{ kairos_in_decision_scope('customer_key') }}
    group by 1, 2

),

product_views as (

    select
        customer_key,
        category,
        product_id,
        count(*) as views
    from events
    where event_name = 'product_view'
    group by 1, 2, 3

),

viewed_lists as (

    select
        customer_key,
        category,
        {{ dbt.listagg('product_id', "','", 'order by product_id') }} as product_ids
    from product_views
    group by 1, 2

),

top_products as (

    select customer_key, category, product_id
    from (
        select
            product_views.*,
            row_number() over (partition by customer_key, category order by views desc, product_id) as view_rank
        from product_views
    ) as ranked
    where view_rank = 1

),

ranked as (

    select
        category_views.*,
        row_number() over (
            partition by category_views.customer_key
            order by category_views.view_count desc, category_views.last_viewed_at desc, category_views.category
        ) as category_rank
    from category_views
    left join carted
        on category_views.customer_key = carted.customer_key
        and category_views.category = carted.category
        and carted.last_carted_at >= category_views.first_viewed_at
    left join bought
        on category_views.customer_key = bought.customer_key
        and category_views.category = bought.category
        and bought.last_bought_at >= category_views.first_viewed_at
    where carted.customer_key is null
        and bought.customer_key is null

),

final as (

    select
        -- trigger contract
        ranked.customer_key,
        ranked.category as trigger_ref,
        {{ dbt.dateadd('hour', idle_hours, 'ranked.last_viewed_at') }} as triggered_at,
        top_products.product_id,
        cast(null as numeric(18, 4)) as margin_rate,

        -- payload
        ranked.category,
        viewed_lists.product_ids,
        cast(ranked.view_count as integer) as view_count

    from ranked
    inner join top_products
        on ranked.customer_key = top_products.customer_key
        and ranked.category = top_products.category
    inner join viewed_lists
        on ranked.customer_key = viewed_lists.customer_key
        and ranked.category = viewed_lists.category
    where ranked.category_rank = 1

)

select * from final
where {{ kairos_in_decision_scope('customer_key') }}
