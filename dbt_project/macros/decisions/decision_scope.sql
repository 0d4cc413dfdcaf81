{#- Customer-scoped decisions: a micro-batch re-decides only the customers
    whose data changed (decision_scope), not every customer.

    The real-time path runs the event triggers and the decision layer on
    every micro-batch. Those models are incremental with the strategy
    kairos_scoped: in a scoped run they compute the rows of the customers
    in decision_scope only, delete those customers' rows and insert the new
    ones; every other customer keeps the rows of the run that last decided
    them. In any other run they compute every customer and replace the
    whole table, as a table model would.

    A run is scoped when var kairos__decision_scope is 'changed', or when it
    is 'auto' (the default) and the invocation rebuilds fct_events but not
    decision_customer_context: the real-time path (selector realtime). A
    run that rebuilds the customer context (the hourly refresh, the daily
    batch, a plain dbt build) re-decides everyone, so profile, consent,
    stock and segment changes reach every decision. A scoped run also needs
    a previous decision run (decision_runs) to scope against, and a built
    model (is_incremental); without either it is a full run. -#}

{% macro kairos_decision_scope_mode() -%}
    {%- set mode = var('kairos__decision_scope', 'auto') | string -%}
    {%- if mode not in ['auto', 'all', 'changed'] -%}
        {{ exceptions.raise_compiler_error("var kairos__decision_scope must be auto, all or changed, not '" ~ mode ~ "'") }}
    {%- endif -%}
    {%- if mode == 'auto' -%}
        {%- set selected = selected_resources if selected_resources is defined else [] -%}
        {%- set mode = 'changed' if (
            'model.kairos.fct_events' in selected
            and 'model.kairos.decision_customer_context' not in selected
        ) else 'all' -%}
    {%- endif -%}
    {{- return(mode) -}}
{%- endmacro %}


{#- The latest completed decision run (decision_runs) as a mapping with
    run_started_at and decided_at, or none. -#}
{% macro kairos_last_decision_run() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {#- read directly, not through ref: every scoped model is upstream of it -#}
    {%- set runs = adapter.get_relation(
        database=target.database, schema=generate_schema_name('decisions', none) | trim, identifier='decision_runs') -%}
    {%- if runs is none -%}{{ return(none) }}{%- endif -%}
    {%- set result = run_query(
        "select run_started_at, decided_at from " ~ runs ~ " order by run_started_at desc limit 1") -%}
    {%- if not result.rows or result.rows[0][0] is none -%}{{ return(none) }}{%- endif -%}
    {{- return({'run_started_at': result.rows[0][0], 'decided_at': result.rows[0][1]}) -}}
{%- endmacro %}


{#- True when this invocation is a scoped run: the mode is changed and a
    previous decision run exists to scope against. -#}
{% macro kairos_scoped_run() -%}
    {{- return(execute and kairos_decision_scope_mode() == 'changed' and kairos_last_decision_run() is not none) -}}
{%- endmacro %}


{#- Minutes after a person's last activity at which an enabled event
    trigger fires without new data: the abandoned cart's idle time (var
    kairos__abandoned_cart_idle_minutes) and every scenario's params.idle_hours
    (abandoned browse, abandoned category). decision_scope re-decides the
    people whose timer ran out since the previous decision run. -#}
{% macro kairos_trigger_idle_timers() -%}
    {%- set minutes = [] -%}
    {%- set enabled = kairos_enabled_scenarios() | map(attribute='id') | list -%}
    {%- if 'abandoned_cart' in enabled -%}
        {%- do minutes.append(var('kairos__abandoned_cart_idle_minutes') | int) -%}
    {%- endif -%}
    {%- set raw = fromyaml(kairos_scenario_registry_yaml()) -%}
    {%- for sc in raw.get('scenarios', []) if sc is mapping and sc.get('id') in enabled -%}
        {%- set params = sc.get('params') or {} -%}
        {%- if params is mapping and params.get('idle_hours') is number -%}
            {%- do minutes.append((params['idle_hours'] * 60) | round | int) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(minutes | unique | list) -}}
{%- endmacro %}


{#- True while a scoped model builds incrementally in a scoped run. -#}
{% macro kairos_decisions_scoped() -%}
    {#- at parse time, record the dependency a scoped run has on decision_scope -#}
    {%- if not execute -%}{%- do ref('decision_scope') -%}{{ return(false) }}{%- endif -%}
    {#- a unit test gives its model's inputs only, and is never scoped -#}
    {%- if model is mapping and model.get('resource_type') == 'unit_test' -%}{{ return(false) }}{%- endif -%}
    {%- if not is_incremental() -%}{{ return(false) }}{%- endif -%}
    {{- return(kairos_scoped_run()) -}}
{%- endmacro %}


{#- A predicate: column is a customer_key in this run's scope (always true
    in a full run). -#}
{% macro kairos_in_decision_scope(column) -%}
    {%- if kairos_decisions_scoped() -%}
        {{ column }} in (select customer_key from {{ ref('decision_scope') }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#- The events a trigger reads: fct_events, or in a scoped run the events of
    the customers in scope and of their carts and sessions
    (int_decision_scope_events), so a trigger computes the same rows for
    them as from the whole table. -#}
{% macro kairos_trigger_events() -%}
    {%- if not execute -%}{%- do ref('int_decision_scope_events') -%}{%- endif -%}
    {{- return(ref('int_decision_scope_events') if kairos_decisions_scoped() else ref('fct_events')) -}}
{%- endmacro %}


{#- A Python datetime (UTC) as a portable timestamp literal. -#}
{% macro kairos_timestamp_literal(value) -%}
    cast('{{ value.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- run_started_at as a portable timestamp literal (UTC). -#}
{% macro kairos_run_started_at() -%}
    {{ kairos_timestamp_literal(run_started_at) }}
{%- endmacro %}


{#- Incremental strategy kairos_scoped (see the top of this file): replace
    the scope's customers' rows, or every row in a full run. -#}
{% macro get_incremental_kairos_scoped_sql(arg_dict) -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ kairos_in_decision_scope('customer_key') }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#- Data tests of a scoped model check, in a scoped run, the rows that run
    wrote (the customers in decision_scope): the other rows were checked by
    the run that wrote them, and a micro-batch should not scan the whole
    table once per test. dbt's own where config still applies. -#}
{% macro get_where_subquery(relation) -%}
    {%- set base = adapter.dispatch('get_where_subquery', 'dbt')(relation) -%}
    {%- set predicate = kairos_test_scope_predicate(relation) -%}
    {%- if predicate -%}
        {{ return('(select * from ' ~ base ~ ' where ' ~ predicate ~ ') kairos_scoped') }}
    {%- endif -%}
    {{ return(base) }}
{%- endmacro %}


{% macro kairos_test_scope_predicate(relation) -%}
    {%- if not execute or relation is string or relation.identifier is none -%}{{ return('') }}{%- endif -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if not attached or attached not in graph.nodes -%}{{ return('') }}{%- endif -%}
    {%- set node = graph.nodes[attached] -%}
    {%- if node.config.get('incremental_strategy') != 'kairos_scoped' or (node.alias or node.name) != relation.identifier -%}
        {{ return('') }}
    {%- endif -%}
    {%- if kairos_decision_scope_mode() != 'changed' -%}{{ return('') }}{%- endif -%}
    {%- set scope = api.Relation.create(
        database=relation.database, schema=generate_schema_name('decisions', none) | trim, identifier='decision_scope') -%}
    {#- an empty scope (a full run) checks every row -#}
    {{ return('(customer_key in (select customer_key from ' ~ scope ~ ') or not exists (select 1 from ' ~ scope ~ '))') }}
{%- endmacro %}


{#- The config of a customer-scoped model: {{ config(**kairos_customer_scoped()) }}.
    sync_all_columns: the table holds nothing a full run cannot rebuild. -#}
{% macro kairos_customer_scoped() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'kairos_scoped',
        'on_schema_change': 'sync_all_columns',
        'post_hook': '{{ kairos_analyze() }}',
    }) }}
{%- endmacro %}
