{#- Every SMS intent for an SMS gateway: the E.164 phone, a default body
    (macro kairos_message_copy), scenario, step, payload and due time. -#}
with

intents as (

    select * from {{ ref('message_intents') }}
    where channel = 'sms'

)

select
    cast(intent_id as {{ dbt.type_string() }}) as intent_id,
    cast(customer_key as {{ dbt.type_string() }}) as customer_key,
    cast(contact_address as {{ dbt.type_string() }}) as phone,
    cast({{ kairos_message_copy('scenario_id', 'body') }} as {{ dbt.type_string() }}) as body,
    cast(scenario_id as {{ dbt.type_string() }}) as scenario_id,
    cast(step as integer) as step,
    cast(is_transactional as boolean) as is_transactional,
    cast(payload as {{ dbt.type_string() }}) as payload,
    cast(incentive_pct as numeric(6, 2)) as incentive_pct,
    cast(due_at as {{ dbt.type_timestamp() }}) as due_at
from intents
