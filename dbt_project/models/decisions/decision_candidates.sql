{{ config(**kairos_customer_scoped()) }}

{#- Trigger candidates: every occurrence of every enabled scenario's trigger
    (trg_<scenario>) at its current step, one row per candidate.

    The step is the latest whose after_hours have passed since the trigger's
    triggered_at (an earlier step not sent in time is skipped, not sent
    late); occurrences whose first step is not due yet are not candidates.
    The registry supplies priority, channels, cool-down, holdout share and
    the step's incentive; the payload is the JSON of the registry's payload
    fields. candidate_id is the intent's idempotency key (hash of scenario,
    step, customer_key and trigger_ref), series_id the occurrence's (all
    steps), series_intent_ids the keys of all its steps (so the cool-down
    can tell the series' own earlier steps from other occurrences).

    Customer-scoped like the whole decision layer: a micro-batch rewrites
    the rows of the customers in decision_scope only
    (macros/decisions/decision_scope.sql). -#}
{%- set scenarios = kairos_enabled_scenarios() -%}

with

{% for sc in scenarios %}
{{ sc.id }}__occurrences as (

    select
        customer_key,
        cast(trigger_ref as {{ dbt.type_string() }}) as trigger_ref,
        cast(triggered_at as {{ dbt.type_timestamp() }}) as triggered_at,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(margin_rate as numeric(18, 4)) as margin_rate,
        {% if 'cart_id' in sc.payload -%}
        cast(cart_id as {{ dbt.type_string() }})
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as cart_id,
        {%- set fields = [] -%}
        {%- for name, kind in sc.payload.items() -%}
            {%- do fields.append((name, name, kind)) -%}
        {%- endfor %}
        {{ kairos_json_object(fields) if fields else "'{}'" }} as payload,
        case
            {%- for st in sc.steps | reverse %}
            when {{ dbt.dateadd('minute', (st.after_hours * 60) | round | int, 'triggered_at') }} <= {{ kairos_now() }} then {{ st.step }}
            {%- endfor %}
        end as step
    from {{ ref('trg_' ~ sc.id) }}
    where customer_key is not null
        and trigger_ref is not null
        and triggered_at is not null
        and {{ kairos_in_decision_scope('customer_key') }}

),

{{ sc.id }}__candidates as (

    select
        '{{ sc.id }}' as scenario_id,
        step,
        customer_key,
        trigger_ref,
        product_id,
        margin_rate,
        cart_id,
        payload,
        triggered_at,
        case step
            {%- for st in sc.steps %}
            when {{ st.step }} then {{ dbt.dateadd('minute', (st.after_hours * 60) | round | int, 'triggered_at') }}
            {%- endfor %}
        end as step_due_at,
        case step
            {%- for st in sc.steps %}
            when {{ st.step }} then {{ st.incentive_pct }}
            {%- endfor %}
        end as incentive_pct,
        case step
            {%- for st in sc.steps %}
            when {{ st.step }} then '{{ st.incentive_fallback }}'
            {%- endfor %}
        end as incentive_fallback,
        {{ sc.steps | length }} as step_count,
        {{ sc.priority }} as priority,
        '{{ sc.on_conflict }}' as on_conflict,
        {{ 'true' if sc.transactional else 'false' }} as is_transactional,
        {{ sc.cool_down_hours }} as cool_down_hours,
        {{ sc.holdout_share }} as holdout_share,
        '{{ sc.send_time }}' as send_time,
        '{{ sc.channels | join(",") }}' as channels,
        {%- set series_keys = [] -%}
        {%- for st in sc.steps -%}
            {%- do series_keys.append(kairos_surrogate_key(["'" ~ sc.id ~ "'", "'" ~ st.step ~ "'", 'customer_key', 'trigger_ref'])) -%}
            {%- if not loop.last -%}{%- do series_keys.append("','") -%}{%- endif -%}
        {%- endfor %}
        {{ dbt.concat(series_keys) if series_keys | length > 1 else series_keys[0] }} as series_intent_ids
    from {{ sc.id }}__occurrences
    where step is not null

),
{% endfor %}

unioned as (

    {% for sc in scenarios %}
    select * from {{ sc.id }}__candidates
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        -- ids
        {{ kairos_surrogate_key(['scenario_id', 'step', 'customer_key', 'trigger_ref']) }} as candidate_id,
        {{ kairos_surrogate_key(['scenario_id', 'customer_key', 'trigger_ref']) }} as series_id,
        customer_key,
        scenario_id,
        cast(step as integer) as step,
        trigger_ref,
        product_id,
        cart_id,

        -- scenario (registry)
        cast(priority as integer) as priority,
        on_conflict,
        is_transactional,
        cast(cool_down_hours as integer) as cool_down_hours,
        cast(holdout_share as numeric(6, 4)) as holdout_share,
        send_time,
        channels,
        cast(step_count as integer) as step_count,
        cast(incentive_pct as numeric(6, 2)) as incentive_pct,
        incentive_fallback,

        -- trigger
        margin_rate,
        payload,
        series_intent_ids,

        -- timestamps
        triggered_at,
        step_due_at,
        {{ kairos_now() }} as decided_at

    from unioned

)

select * from final
