{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The customers a scoped run re-decides (see macros/decisions/decision_scope.sql),
    one row per customer_key with the first reason that put them in scope:
    - new_events: an event of theirs reached fct_events since the previous
      decision run started (new, late or re-keyed by an identity merge;
      fct_events.loaded_at);
    - idle_timer: an idle timer of an event trigger ran out since the
      previous decision run (an abandoned cart kairos__abandoned_cart_idle_minutes
      after its last activity, a browse or category params.idle_hours after
      it: kairos_trigger_idle_timers), so the trigger fires on the next
      micro-batch without new data of theirs. The window per timer is the
      previous decision time to now, shifted back by the timer;
    - shared_cart: they share a cart with someone in scope (its owner can
      change hands).
    Empty in a full run: every customer is decided then. -#}
with

{% if kairos_scoped_run() %}
{%- set last_run = kairos_last_decision_run() -%}
{%- set since = kairos_timestamp_literal(last_run['run_started_at']) -%}
{%- set decided = kairos_timestamp_literal(last_run['decided_at']) -%}
events as (

    select customer_key, event_at, loaded_at
    from {{ ref('fct_events') }}
    where customer_key is not null

),

changed as (

    select customer_key, 1 as reason_rank
    from events
    where loaded_at > {{ since }}

    {%- set timers = kairos_trigger_idle_timers() %}
    {%- if timers %}

    union all

    select customer_key, 2 as reason_rank
    from events
    where
        {%- for minutes in timers %}
        {{ 'or ' if not loop.first }}(event_at > {{ dbt.dateadd('minute', -minutes, decided) }}
            and event_at <= {{ dbt.dateadd('minute', -minutes, kairos_now()) }})
        {%- endfor %}
    {%- endif %}

),

-- people who share a cart with someone in scope: the cart's owner (its last
-- identified person) may change hands, and both people's rows are rewritten
shared_carts as (

    select distinct events.cart_id
    from {{ ref('fct_events') }} as events
    inner join (select distinct customer_key from changed) as changed_people
        on events.customer_key = changed_people.customer_key
    where events.cart_id is not null

),

scoped as (

    select customer_key, reason_rank from changed

    union all

    select events.customer_key, 3 as reason_rank
    from {{ ref('fct_events') }} as events
    inner join shared_carts
        on events.cart_id = shared_carts.cart_id
    where events.customer_key is not null

),
{% else %}
scoped as (

    select cast(null as {{ dbt.type_string() }}) as customer_key, 1 as reason_rank
    from {{ ref('fct_events') }}
    where 1 = 0

),
{% endif %}

final as (

    select
        customer_key,
        case min(reason_rank) when 1 then 'new_events' when 2 then 'idle_timer' else 'shared_cart' end as reason,
        {{ kairos_now() }} as scoped_at
    from scoped
    group by 1

)

select * from final
