{#- Every email intent (all scenarios, marketing and transactional) for an
    ESP: recipient, greeting, scenario and step, the payload (JSON text), an
    incentive when granted and the due time (the ESP schedules on due_at). -#}
with

intents as (

    select * from {{ ref('message_intents') }}
    where channel = 'email'

)

select
    cast(intent_id as {{ dbt.type_string() }}) as intent_id,
    cast(customer_key as {{ dbt.type_string() }}) as customer_key,
    cast(contact_address as {{ dbt.type_string() }}) as email,
    cast(first_name as {{ dbt.type_string() }}) as first_name,
    cast(scenario_id as {{ dbt.type_string() }}) as scenario_id,
    cast(step as integer) as step,
    cast(is_transactional as boolean) as is_transactional,
    cast({{ kairos_message_copy('scenario_id', 'title') }} as {{ dbt.type_string() }}) as subject,
    cast(payload as {{ dbt.type_string() }}) as payload,
    cast(incentive_pct as numeric(6, 2)) as incentive_pct,
    cast(due_at as {{ dbt.type_timestamp() }}) as due_at
from intents
