{#- Reading the scenario registry (scenario_registry.sql) from models.

    kairos_scenarios()            the whole registry, validated, defaults applied,
                                  guards merged with var('kairos__guards', {})
    kairos_enabled_scenarios()    the scenarios with enabled: true
    kairos_scenario(id)           one scenario
    kairos_scenario_param(id, p)  one of a scenario's params (trigger models)
    kairos_guard(name)            one guard setting (with kairos__guards)

    Any problem stops dbt with a compiler error listing every bad entry; the
    rules and messages are the same as kairos/scenarios.py (a test checks). -#}

{% macro kairos_registry_path() -%}
dbt_project/macros/decisions/scenario_registry.sql
{%- endmacro %}


{% macro kairos_scenarios() %}
    {%- set raw = fromyaml(kairos_scenario_registry_yaml()) -%}
    {%- if raw is none -%}
        {{ exceptions.raise_compiler_error("Scenario registry (" ~ kairos_registry_path() ~ ") is not valid YAML: run `python -m kairos.scenarios` for the parser's message") }}
    {%- endif -%}
    {%- if raw is mapping and raw.get('guards') is mapping -%}
        {%- set overrides = var('kairos__guards', {}) -%}
        {%- if overrides is mapping -%}
            {%- do raw['guards'].update(overrides) -%}
        {%- elif overrides -%}
            {{ exceptions.raise_compiler_error("var kairos__guards must be a mapping of guard settings") }}
        {%- endif -%}
    {%- endif -%}
    {%- set errors = kairos_scenario_registry_errors(raw) -%}
    {%- if errors | length > 0 -%}
        {{ exceptions.raise_compiler_error("Scenario registry (" ~ kairos_registry_path() ~ ") is invalid:\n  - " ~ (errors | join("\n  - "))) }}
    {%- endif -%}
    {%- for sc in raw['scenarios'] -%}
        {%- for key, default in [('transactional', false), ('send_time', 'immediate'), ('params', {}), ('history_campaigns', []), ('enabled', true)] -%}
            {%- if key not in sc or sc[key] is none -%}{%- do sc.update({key: default}) -%}{%- endif -%}
        {%- endfor -%}
        {%- for st in sc['steps'] -%}
            {%- if 'incentive_pct' not in st -%}{%- do st.update({'incentive_pct': 0}) -%}{%- endif -%}
            {%- if 'incentive_fallback' not in st -%}{%- do st.update({'incentive_fallback': 'send_without'}) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(raw) }}
{% endmacro %}


{% macro kairos_enabled_scenarios() %}
    {%- set out = [] -%}
    {%- for sc in kairos_scenarios()['scenarios'] if sc['enabled'] -%}{%- do out.append(sc) -%}{%- endfor -%}
    {{ return(out) }}
{% endmacro %}


{% macro kairos_scenario(scenario_id) %}
    {%- for sc in kairos_scenarios()['scenarios'] if sc['id'] == scenario_id -%}
        {{ return(sc) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("Scenario registry: no scenario '" ~ scenario_id ~ "' (add it to " ~ kairos_registry_path() ~ ")") }}
{% endmacro %}


{#- Lookups for trigger models: the raw YAML without the full validation
    (cheap; every model that decides - decision_candidates, decision_guards,
    decision_log ... - validates the whole registry with kairos_scenarios(),
    so a bad registry still stops dbt). -#}
{% macro kairos_scenario_param(scenario_id, name) %}
    {%- set raw = fromyaml(kairos_scenario_registry_yaml()) -%}
    {%- set found = [] -%}
    {%- if raw is mapping and raw.get('scenarios') is sequence -%}
        {%- for sc in raw['scenarios'] if sc is mapping and sc.get('id') == scenario_id -%}{%- do found.append(sc) -%}{%- endfor -%}
    {%- endif -%}
    {%- if found | length == 0 -%}
        {{ exceptions.raise_compiler_error("Scenario registry: no scenario '" ~ scenario_id ~ "' (add it to " ~ kairos_registry_path() ~ ")") }}
    {%- endif -%}
    {%- set params = found[0].get('params') or {} -%}
    {%- if params is not mapping or name not in params -%}
        {{ exceptions.raise_compiler_error("Scenario registry: scenario '" ~ scenario_id ~ "' needs params." ~ name ~ " (used by trg_" ~ scenario_id ~ ")") }}
    {%- endif -%}
    {{ return(params[name]) }}
{% endmacro %}


{% macro kairos_guard(name) %}
    {%- set raw = fromyaml(kairos_scenario_registry_yaml()) -%}
    {%- set guards = (raw.get('guards') if raw is mapping else none) or {} -%}
    {%- set overrides = var('kairos__guards', {}) -%}
    {%- if overrides is mapping and name in overrides -%}
        {{ return(overrides[name]) }}
    {%- endif -%}
    {%- if guards is not mapping or name not in guards -%}
        {{ exceptions.raise_compiler_error("Scenario registry: guards." ~ name ~ " is missing (" ~ kairos_registry_path() ~ ")") }}
    {%- endif -%}
    {{ return(guards[name]) }}
{% endmacro %}


{#- `hh:mm` -> minutes after midnight -#}
{% macro kairos_minutes_of(hhmm) %}
    {%- set parts = hhmm.split(':') -%}
    {{ return((parts[0] | int) * 60 + (parts[1] | int)) }}
{% endmacro %}


{#- For tests: `dbt run-operation kairos_registry_check --args '{cases: {name: yaml}}'`
    logs one JSON line {"name": [errors]} per case. -#}
{% macro kairos_registry_check(cases) %}
    {%- set out = {} -%}
    {%- for name, text in cases.items() -%}
        {%- set raw = fromyaml(text) -%}
        {%- if raw is none -%}
            {%- do out.update({name: ['not valid YAML']}) -%}
        {%- else -%}
            {%- do out.update({name: kairos_scenario_registry_errors(raw)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ log('KAIROS_REGISTRY_CHECK ' ~ tojson(out), info=true) }}
{% endmacro %}


{#- Every problem of a parsed registry (same rules and messages as kairos/scenarios.py). -#}
{% macro kairos_scenario_registry_errors(registry) %}
    {%- set channels = ['email', 'sms', 'push', 'ads', 'sales_alert'] -%}
    {%- set message_channels = ['email', 'sms', 'push'] -%}
    {%- set trigger_kinds = ['event', 'time_rule', 'value_threshold', 'attribute_change'] -%}
    {%- set conflict = ['wait', 'drop'] -%}
    {%- set send_times = ['immediate', 'active_hour'] -%}
    {%- set payload_types = ['string', 'number', 'string_list'] -%}
    {%- set fallbacks = ['send_without', 'stop'] -%}
    {%- set cap_keys = ['all_messages', 'email', 'sms', 'push'] -%}
    {%- set required = ['id', 'description', 'level', 'trigger_kind', 'channels', 'priority', 'on_conflict', 'cool_down_hours', 'holdout_share', 'steps', 'payload'] -%}
    {%- set optional = ['transactional', 'send_time', 'params', 'history_campaigns', 'enabled'] -%}
    {%- set step_keys = ['step', 'after_hours', 'incentive_pct', 'incentive_fallback'] -%}
    {%- set guard_keys = ['default_time_zone', 'quiet_hours', 'min_hours_between_messages', 'max_marketing_intents_per_run', 'global_control_share', 'holdout_salt', 'incentive_min_margin_rate', 'incentive_max_discounted_order_share', 'caps'] -%}
    {%- set errors = [] -%}

    {%- if registry is not mapping -%}
        {{ return(['the registry must be a YAML mapping with guards and scenarios']) }}
    {%- endif -%}
    {%- for key in registry -%}
        {%- if key not in ['version', 'guards', 'scenarios'] -%}
            {%- do errors.append("unknown top-level key '" ~ key ~ "' (allowed: version, guards, scenarios)") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not (registry.get('version') is number and registry.get('version') == 1) -%}
        {%- do errors.append('version must be 1') -%}
    {%- endif -%}

    {#- ---------------------------------------------------------- guards -#}
    {%- if 'guards' not in registry -%}
        {%- do errors.append("missing 'guards'") -%}
    {%- elif registry['guards'] is not mapping -%}
        {%- do errors.append('guards must be a mapping') -%}
    {%- else -%}
        {%- set g = registry['guards'] -%}
        {%- for key in g -%}
            {%- if key not in guard_keys -%}
                {%- do errors.append("guards: unknown key '" ~ key ~ "' (allowed: " ~ (guard_keys | sort | join(', ')) ~ ")") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for key in guard_keys if key not in g -%}
            {%- do errors.append("guards: missing '" ~ key ~ "'") -%}
        {%- endfor -%}
        {%- if 'default_time_zone' in g and not (g['default_time_zone'] is string and modules.re.match('^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$', g['default_time_zone'])) -%}
            {%- do errors.append('guards: default_time_zone must be an IANA time zone name such as Europe/Berlin') -%}
        {%- endif -%}
        {%- if 'quiet_hours' in g -%}
            {%- set q = g['quiet_hours'] -%}
            {%- if not (q is mapping and (q.keys() | list | sort) == ['end', 'start']) -%}
                {%- do errors.append('guards: quiet_hours must be a mapping with start and end') -%}
            {%- else -%}
                {%- for part in ['start', 'end'] -%}
                    {%- if not (q[part] is string and modules.re.match('^([01][0-9]|2[0-3]):[0-5][0-9]$', q[part])) -%}
                        {%- do errors.append('guards: quiet_hours.' ~ part ~ ' must be a time HH:MM (quoted)') -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
        {%- if 'min_hours_between_messages' in g and not (g['min_hours_between_messages'] is number and g['min_hours_between_messages'] is not boolean and g['min_hours_between_messages'] >= 0) -%}
            {%- do errors.append('guards: min_hours_between_messages must be a number >= 0') -%}
        {%- endif -%}
        {%- if 'max_marketing_intents_per_run' in g and not (g['max_marketing_intents_per_run'] is integer and g['max_marketing_intents_per_run'] >= 1) -%}
            {%- do errors.append('guards: max_marketing_intents_per_run must be an integer >= 1') -%}
        {%- endif -%}
        {%- if 'global_control_share' in g and not (g['global_control_share'] is number and g['global_control_share'] is not boolean and g['global_control_share'] >= 0 and g['global_control_share'] < 1) -%}
            {%- do errors.append('guards: global_control_share must be a number from 0 to below 1') -%}
        {%- endif -%}
        {%- if 'holdout_salt' in g and not (g['holdout_salt'] is string and g['holdout_salt'] | trim | length > 0) -%}
            {%- do errors.append('guards: holdout_salt must be a non-empty text') -%}
        {%- endif -%}
        {%- for key in ['incentive_min_margin_rate', 'incentive_max_discounted_order_share'] -%}
            {%- if key in g and not (g[key] is number and g[key] is not boolean and g[key] >= 0 and g[key] <= 1) -%}
                {%- do errors.append('guards: ' ~ key ~ ' must be a number from 0 to 1') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if 'caps' in g -%}
            {%- set caps = g['caps'] -%}
            {%- if caps is not mapping -%}
                {%- do errors.append('guards: caps must be a mapping') -%}
            {%- else -%}
                {%- for key, cap in caps.items() -%}
                    {%- if key not in cap_keys -%}
                        {%- do errors.append("guards: caps: unknown key '" ~ key ~ "' (allowed: " ~ (cap_keys | join(', ')) ~ ")") -%}
                    {%- elif cap is not mapping or (cap.keys() | reject('in', ['per_local_day', 'rolling']) | list | length) > 0 -%}
                        {%- do errors.append('guards: caps.' ~ key ~ ' must be a mapping with per_local_day and/or rolling') -%}
                    {%- else -%}
                        {%- if 'per_local_day' in cap and not (cap['per_local_day'] is integer and cap['per_local_day'] >= 0) -%}
                            {%- do errors.append('guards: caps.' ~ key ~ '.per_local_day must be an integer >= 0') -%}
                        {%- endif -%}
                        {%- if 'rolling' in cap -%}
                            {%- set rolling = cap['rolling'] -%}
                            {%- set ns = namespace(ok=(rolling is sequence and rolling is not string and rolling is not mapping)) -%}
                            {%- if ns.ok -%}
                                {%- for w in rolling -%}
                                    {%- if not (w is mapping and (w.keys() | list | sort) == ['hours', 'max'] and w['hours'] is integer and w['hours'] >= 1 and w['max'] is integer and w['max'] >= 0) -%}
                                        {%- set ns.ok = false -%}
                                    {%- endif -%}
                                {%- endfor -%}
                            {%- endif -%}
                            {%- if not ns.ok -%}
                                {%- do errors.append('guards: caps.' ~ key ~ '.rolling must be a list of {hours: integer >= 1, max: integer >= 0}') -%}
                            {%- endif -%}
                        {%- endif -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}

    {#- ---------------------------------------------------------- scenarios -#}
    {%- set scenarios = registry.get('scenarios') -%}
    {%- if not (scenarios is sequence and scenarios is not string and scenarios is not mapping and scenarios | length > 0) -%}
        {%- do errors.append('scenarios must be a non-empty list') -%}
    {%- else -%}
        {%- set seen = [] -%}
        {%- for sc in scenarios -%}
            {%- set index = loop.index -%}
            {%- if sc is not mapping -%}
                {%- do errors.append('scenario #' ~ index ~ ': must be a mapping') -%}
            {%- else -%}
                {%- set sid = sc.get('id') -%}
                {%- if sid is string and modules.re.match('^[a-z][a-z0-9_]{1,40}$', sid) -%}
                    {%- set where = "scenario '" ~ sid ~ "'" -%}
                    {%- if sid in seen -%}{%- do errors.append(where ~ ': duplicate id') -%}{%- endif -%}
                    {%- do seen.append(sid) -%}
                {%- else -%}
                    {%- set where = 'scenario #' ~ index -%}
                    {%- do errors.append(where ~ ': id must be snake_case text (a-z, 0-9, _), 2 to 41 characters') -%}
                {%- endif -%}
                {%- for key in sc if key not in required + optional -%}
                    {%- do errors.append(where ~ ": unknown key '" ~ key ~ "' (allowed: " ~ ((required + optional) | sort | join(', ')) ~ ")") -%}
                {%- endfor -%}
                {%- for key in required if key not in sc -%}
                    {%- do errors.append(where ~ ": missing '" ~ key ~ "'") -%}
                {%- endfor -%}
                {%- if 'description' in sc and not (sc['description'] is string and sc['description'] | trim | length > 0) -%}
                    {%- do errors.append(where ~ ': description must be a non-empty text') -%}
                {%- endif -%}
                {%- if 'level' in sc and not (sc['level'] is integer and sc['level'] in [1, 2, 3]) -%}
                    {%- do errors.append(where ~ ': level must be 1, 2 or 3') -%}
                {%- endif -%}
                {%- if 'trigger_kind' in sc and sc['trigger_kind'] not in trigger_kinds -%}
                    {%- do errors.append(where ~ ': trigger_kind must be one of ' ~ (trigger_kinds | join(', '))) -%}
                {%- endif -%}
                {%- if 'channels' in sc -%}
                    {%- set ch = sc['channels'] -%}
                    {%- set ns = namespace(ok=(ch is sequence and ch is not string and ch is not mapping and ch | length > 0)) -%}
                    {%- if ns.ok -%}{%- for c in ch if c is not string -%}{%- set ns.ok = false -%}{%- endfor -%}{%- endif -%}
                    {%- if not ns.ok -%}
                        {%- do errors.append(where ~ ': channels must be a non-empty list of ' ~ (channels | join(', '))) -%}
                    {%- else -%}
                        {%- for c in ch if c not in channels -%}
                            {%- do errors.append(where ~ ": unknown channel '" ~ c ~ "' (allowed: " ~ (channels | join(', ')) ~ ")") -%}
                        {%- endfor -%}
                        {%- if (ch | unique | list | length) != (ch | length) -%}
                            {%- do errors.append(where ~ ': channels must not repeat') -%}
                        {%- endif -%}
                    {%- endif -%}
                {%- endif -%}
                {%- if 'priority' in sc and not (sc['priority'] is integer and sc['priority'] >= 1 and sc['priority'] <= 100) -%}
                    {%- do errors.append(where ~ ': priority must be an integer from 1 to 100') -%}
                {%- endif -%}
                {%- if 'on_conflict' in sc and sc['on_conflict'] not in conflict -%}
                    {%- do errors.append(where ~ ': on_conflict must be one of ' ~ (conflict | join(', '))) -%}
                {%- endif -%}
                {%- if 'cool_down_hours' in sc and not (sc['cool_down_hours'] is integer and sc['cool_down_hours'] >= 0) -%}
                    {%- do errors.append(where ~ ': cool_down_hours must be an integer >= 0') -%}
                {%- endif -%}
                {%- set transactional = sc.get('transactional', false) -%}
                {%- if transactional is not boolean -%}
                    {%- do errors.append(where ~ ': transactional must be true or false') -%}
                    {%- set transactional = false -%}
                {%- endif -%}
                {%- if 'holdout_share' in sc -%}
                    {%- set share = sc['holdout_share'] -%}
                    {%- if not (share is number and share is not boolean and share >= 0 and share < 1) -%}
                        {%- do errors.append(where ~ ': holdout_share must be a number from 0 to below 1') -%}
                    {%- elif transactional and share != 0 -%}
                        {%- do errors.append(where ~ ': transactional scenarios have no holdout (holdout_share must be 0)') -%}
                    {%- endif -%}
                {%- endif -%}
                {%- if 'send_time' in sc and sc['send_time'] not in send_times -%}
                    {%- do errors.append(where ~ ': send_time must be one of ' ~ (send_times | join(', '))) -%}
                {%- endif -%}
                {%- if 'enabled' in sc and sc['enabled'] is not boolean -%}
                    {%- do errors.append(where ~ ': enabled must be true or false') -%}
                {%- endif -%}
                {%- if 'steps' in sc -%}
                    {%- set steps = sc['steps'] -%}
                    {%- if not (steps is sequence and steps is not string and steps is not mapping and steps | length > 0) -%}
                        {%- do errors.append(where ~ ': steps must be a non-empty list') -%}
                    {%- else -%}
                        {%- set prev = namespace(hours=none) -%}
                        {%- for st in steps -%}
                            {%- set i = loop.index -%}
                            {%- if st is not mapping -%}
                                {%- do errors.append(where ~ ': step #' ~ i ~ ' must be a mapping') -%}
                            {%- else -%}
                                {%- for key in st if key not in step_keys -%}
                                    {%- do errors.append(where ~ ': step #' ~ i ~ ": unknown key '" ~ key ~ "' (allowed: " ~ (step_keys | join(', ')) ~ ")") -%}
                                {%- endfor -%}
                                {%- if not (st.get('step') is integer and st.get('step') == i) -%}
                                    {%- do errors.append(where ~ ': step #' ~ i ~ ': step must be ' ~ i ~ ' (steps are numbered 1, 2, ... in order)') -%}
                                {%- endif -%}
                                {%- set hours = st.get('after_hours') -%}
                                {%- set hours_is_num = hours is number and hours is not boolean -%}
                                {%- if not (hours_is_num and hours >= 0) -%}
                                    {%- do errors.append(where ~ ': step #' ~ i ~ ': after_hours must be a number >= 0') -%}
                                {%- elif prev.hours is not none and hours <= prev.hours -%}
                                    {%- do errors.append(where ~ ': step #' ~ i ~ ": after_hours must be greater than the previous step's") -%}
                                {%- endif -%}
                                {%- if hours_is_num -%}{%- set prev.hours = hours -%}{%- endif -%}
                                {%- if 'incentive_pct' in st -%}
                                    {%- set pct = st['incentive_pct'] -%}
                                    {%- if not (pct is number and pct is not boolean and pct > 0 and pct <= 50) -%}
                                        {%- do errors.append(where ~ ': step #' ~ i ~ ': incentive_pct must be a number above 0 and at most 50') -%}
                                    {%- endif -%}
                                    {%- if transactional -%}
                                        {%- do errors.append(where ~ ': step #' ~ i ~ ': transactional scenarios cannot carry incentives') -%}
                                    {%- endif -%}
                                {%- endif -%}
                                {%- if 'incentive_fallback' in st -%}
                                    {%- if 'incentive_pct' not in st -%}
                                        {%- do errors.append(where ~ ': step #' ~ i ~ ': incentive_fallback needs incentive_pct') -%}
                                    {%- endif -%}
                                    {%- if st['incentive_fallback'] not in fallbacks -%}
                                        {%- do errors.append(where ~ ': step #' ~ i ~ ': incentive_fallback must be one of ' ~ (fallbacks | join(', '))) -%}
                                    {%- endif -%}
                                {%- endif -%}
                            {%- endif -%}
                        {%- endfor -%}
                    {%- endif -%}
                {%- endif -%}
                {%- if 'payload' in sc -%}
                    {%- set payload = sc['payload'] -%}
                    {%- if payload is not mapping -%}
                        {%- do errors.append(where ~ ': payload must be a mapping of column: type') -%}
                    {%- else -%}
                        {%- for name, kind in payload.items() -%}
                            {%- if not (name is string and modules.re.match('^[a-z][a-z0-9_]{0,62}$', name)) -%}
                                {%- do errors.append(where ~ ": payload field '" ~ name ~ "' must be a snake_case column name") -%}
                            {%- endif -%}
                            {%- if kind not in payload_types -%}
                                {%- do errors.append(where ~ ": payload field '" ~ name ~ "' must have a type among " ~ (payload_types | join(', '))) -%}
                            {%- endif -%}
                        {%- endfor -%}
                    {%- endif -%}
                {%- endif -%}
                {%- if 'params' in sc and sc['params'] is not mapping -%}
                    {%- do errors.append(where ~ ': params must be a mapping') -%}
                {%- endif -%}
                {%- if 'history_campaigns' in sc -%}
                    {%- set hc = sc['history_campaigns'] -%}
                    {%- set ns = namespace(ok=(hc is sequence and hc is not string and hc is not mapping)) -%}
                    {%- if ns.ok -%}{%- for x in hc if not (x is string and x | trim | length > 0) -%}{%- set ns.ok = false -%}{%- endfor -%}{%- endif -%}
                    {%- if not ns.ok -%}
                        {%- do errors.append(where ~ ': history_campaigns must be a list of campaign id prefixes') -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(errors) }}
{% endmacro %}
