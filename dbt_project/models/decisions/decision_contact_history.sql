{#- tag realtime: the deliveries of the last micro-batch's syncs must count
    in the next micro-batch's caps, so the real-time path rebuilds this even
    though no event feeds it -#}
{{ config(tags=['realtime'], **kairos_customer_scoped()) }}

{#- Messages actually delivered, as of kairos_now(): what caps, cool-downs
    and "already delivered" count. Two sources:
    - contact history reported by the sending systems ('sent' events); the
      campaign maps to a scenario through the registry's history_campaigns
      prefixes (else the campaign id); transactional campaigns
      (kairos__transactional_campaign_prefix) are not marketing;
    - the sync engine's ledger ops.sync_records (status 'sent', operation
      'insert' when the column exists), when the table exists and
      kairos__use_sync_ledger is true: record_key is the intent_id, so a
      delivered intent is recognised in the next decision; a scenario the
      registry marks transactional is not marketing.
    A delivery both reported by the ESP and recorded by the ledger counts
    twice (caps err on the side of fewer messages). Last 400 days only.
    Customer-scoped (macros/decisions/decision_scope.sql): a micro-batch
    rewrites the history of the customers it re-decides, from the ledger
    and the ESP-reported rows the last full run read (raw contact history
    arrives in batches; the hourly refresh reads it again). -#}
{%- set scenarios = kairos_scenarios()['scenarios'] -%}
{%- set transactional = [] -%}
{%- for sc in scenarios if sc['transactional'] -%}{%- do transactional.append(sc['id']) -%}{%- endfor -%}
{%- set ledger = none -%}
{%- set ledger_has_operation = false -%}
{%- if execute and var('kairos__use_sync_ledger', true) -%}
    {%- set ledger = adapter.get_relation(database=target.database, schema='ops', identifier='sync_records') -%}
    {%- if ledger is not none -%}
        {%- set ledger_columns = adapter.get_columns_in_relation(ledger) | map(attribute='name') | map('lower') | list -%}
        {%- set ledger_has_operation = 'operation' in ledger_columns -%}
    {%- endif -%}
{%- endif -%}

with

{% if kairos_decisions_scoped() %}
-- a micro-batch keeps the ESP-reported history the last full run read (raw
-- contact history is loaded in batches) and re-reads only the ledger, which
-- the last micro-batch's syncs wrote to
reported as (

    select customer_key, channel, scenario_id, record_key, is_marketing, sent_at, source
    from {{ this }}
    where source = 'contact_history'
        and sent_at <= {{ kairos_now() }}
        and sent_at > {{ dbt.dateadd('day', -400, kairos_now()) }}
        and {{ kairos_in_decision_scope('customer_key') }}

),
{% else %}
identities as (

    select identifier_value as customer_id, customer_key
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

reported as (

    select
        identities.customer_key,
        history.channel,
        case
            {%- for sc in scenarios %}
            {%- for prefix in sc['history_campaigns'] %}
            when substr(history.campaign_id, 1, {{ prefix | length }}) = '{{ prefix }}' then '{{ sc.id }}'
            {%- endfor %}
            {%- endfor %}
            else history.campaign_id
        end as scenario_id,
        history.message_id as record_key,
        history.is_marketing,
        history.occurred_at as sent_at,
        'contact_history' as source
    from {{ ref('stg_messaging__contact_history') }} as history
    inner join identities
        on history.customer_id = identities.customer_id
    where history.event_type = 'sent'
        and history.occurred_at <= {{ kairos_now() }}
        and history.occurred_at > {{ dbt.dateadd('day', -400, kairos_now()) }}

),
{% endif %}

{% if ledger is not none %}
delivered as (

    select
        cast(customer_key as {{ dbt.type_string() }}) as customer_key,
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(scenario_id as {{ dbt.type_string() }}) as scenario_id,
        cast(record_key as {{ dbt.type_string() }}) as record_key,
        {% if transactional -%}
        coalesce(cast(scenario_id as {{ dbt.type_string() }}) not in ({% for t in transactional %}'{{ t }}'{{ ', ' if not loop.last }}{% endfor %}), true)
        {%- else -%}
        true
        {%- endif %} as is_marketing,
        cast(updated_at as {{ dbt.type_timestamp() }}) as sent_at,
        'sync_ledger' as source
    from {{ ledger }}
    where status = 'sent'
        and customer_key is not null
        and {{ kairos_in_decision_scope('customer_key') }}
        and channel is not null
        {% if ledger_has_operation %}and operation = 'insert'{% endif %}
        and cast(updated_at as {{ dbt.type_timestamp() }}) <= {{ kairos_now() }}
        and cast(updated_at as {{ dbt.type_timestamp() }}) > {{ dbt.dateadd('day', -400, kairos_now()) }}

),
{% endif %}

unioned as (

    select * from reported
    {% if ledger is not none %}
    union all
    select * from delivered
    {% endif %}

),

final as (

    select
        {{ kairos_surrogate_key(['source', 'record_key', 'customer_key', 'channel', 'sent_at']) }} as delivery_id,
        customer_key,
        channel,
        scenario_id,
        record_key,
        is_marketing,
        channel in ('email', 'sms', 'push') as is_message,
        sent_at,
        source
    from unioned

)

select * from final
