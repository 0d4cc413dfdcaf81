{#- Sales alerts (channel sales_alert) for a webhook into the sales team's
    tool: the sales owner to notify, the account, the customer and the
    activity payload. -#}
with

intents as (

    select intents.*, customers.account_name
    from {{ ref('message_intents') }} as intents
    left join {{ ref('decision_customer_context') }} as customers
        on intents.customer_key = customers.customer_key
    where intents.channel = 'sales_alert'

)

select
    cast(intent_id as {{ dbt.type_string() }}) as intent_id,
    cast(customer_key as {{ dbt.type_string() }}) as customer_key,
    cast(contact_address as {{ dbt.type_string() }}) as sales_owner_email,
    cast(account_name as {{ dbt.type_string() }}) as account_name,
    cast(first_name as {{ dbt.type_string() }}) as first_name,
    cast(email as {{ dbt.type_string() }}) as customer_email,
    cast(scenario_id as {{ dbt.type_string() }}) as scenario_id,
    cast(payload as {{ dbt.type_string() }}) as payload,
    cast(due_at as {{ dbt.type_timestamp() }}) as due_at
from intents
