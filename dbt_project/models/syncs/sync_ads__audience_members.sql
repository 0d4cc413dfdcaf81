{#- Paid-media audience members decided this run (channel ads: the
    lookalike seed and the win-back retargeting), one row per intent, with
    the match keys an ad platform hashes (email, phone) and the audience
    (scenario). Only people with ads consent get here. -#}
with

intents as (

    select intents.*, customers.phone
    from {{ ref('message_intents') }} as intents
    left join {{ ref('decision_customer_context') }} as customers
        on intents.customer_key = customers.customer_key
    where intents.channel = 'ads'

)

select
    cast(intent_id as {{ dbt.type_string() }}) as intent_id,
    cast(customer_key as {{ dbt.type_string() }}) as customer_key,
    cast(email as {{ dbt.type_string() }}) as email,
    cast(phone as {{ dbt.type_string() }}) as phone,
    cast(scenario_id as {{ dbt.type_string() }}) as audience,
    cast(due_at as {{ dbt.type_timestamp() }}) as due_at
from intents
