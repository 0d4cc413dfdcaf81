{#- The scenario registry as a table: one row per scenario and step, so
    analysts, `kairos why` and the demo can join decisions to what each
    scenario declares. Built from the registry macro, not from data. -#}
{%- set registry = kairos_scenarios() -%}

{% for sc in registry['scenarios'] %}
{%- for st in sc['steps'] %}
select
    '{{ sc.id }}' as scenario_id,
    {{ st.step }} as step,
    '{{ sc.description | trim | replace("'", "''") }}' as description,
    {{ sc.level }} as level,
    '{{ sc.trigger_kind }}' as trigger_kind,
    'trg_{{ sc.id }}' as trigger_model,
    '{{ sc.channels | join(",") }}' as channels,
    {{ sc.priority }} as priority,
    '{{ sc.on_conflict }}' as on_conflict,
    {{ sc.cool_down_hours }} as cool_down_hours,
    cast({{ sc.holdout_share }} as numeric(6, 4)) as holdout_share,
    {{ 'true' if sc.transactional else 'false' }} as is_transactional,
    '{{ sc.send_time }}' as send_time,
    cast({{ st.after_hours }} as numeric(10, 2)) as after_hours,
    cast({{ st.incentive_pct }} as numeric(6, 2)) as incentive_pct,
    '{{ st.incentive_fallback }}' as incentive_fallback,
    {{ sc.steps | length }} as step_count,
    '{{ sc.payload.keys() | join(",") }}' as payload_fields,
    {{ 'true' if sc.enabled else 'false' }} as is_enabled
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% if not loop.last %}union all{% endif %}
{% endfor %}
