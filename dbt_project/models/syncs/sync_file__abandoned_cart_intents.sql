{#- What the file destination writes for abandoned-cart emails: one row per
    intent (every step of the series), typed explicitly so the enforced
    contract holds on every engine. Cart value and products come from the
    trigger (the intent carries the cart id). -#}
with

intents as (

    select * from {{ ref('message_intents') }}
    where scenario_id = 'abandoned_cart'
        and channel = 'email'

),

carts as (

    select cart_id, cart_value, product_ids
    from {{ ref('trg_abandoned_cart') }}

),

final as (

    select
        cast(intents.intent_id as {{ dbt.type_string() }}) as intent_id,
        cast(intents.customer_key as {{ dbt.type_string() }}) as customer_key,
        cast(intents.contact_address as {{ dbt.type_string() }}) as email,
        cast(intents.first_name as {{ dbt.type_string() }}) as first_name,
        cast(intents.scenario_id as {{ dbt.type_string() }}) as scenario_id,
        cast(intents.step as integer) as step,
        cast(intents.cart_id as {{ dbt.type_string() }}) as cart_id,
        cast(carts.cart_value as numeric(18, 2)) as cart_value,
        cast(carts.product_ids as {{ dbt.type_string() }}) as product_ids,
        cast(intents.due_at as {{ dbt.type_timestamp() }}) as due_at
    from intents
    left join carts
        on intents.cart_id = carts.cart_id

)

select * from final
