{#- The segment registry as a table: one row per active segment of var
    kairos__segments (for_each entries expanded), so channels and analysts
    can list what exists, who owns it and the rule behind it. -#}
{%- set segments = kairos_segment_definitions() -%}

{% if segments | length == 0 %}
select
    cast(null as {{ dbt.type_string() }}) as segment_id,
    cast(null as {{ dbt.type_string() }}) as segment_group,
    cast(null as {{ dbt.type_string() }}) as owner,
    cast(null as {{ dbt.type_string() }}) as description,
    cast(null as {{ dbt.type_string() }}) as rule_sql
where 1 = 0
{% else %}
{%- for segment in segments %}
select
    cast('{{ segment.id }}' as {{ dbt.type_string() }}) as segment_id,
    cast('{{ segment.group }}' as {{ dbt.type_string() }}) as segment_group,
    cast('{{ segment.owner }}' as {{ dbt.type_string() }}) as owner,
    cast('{{ segment.description | replace("'", "''") }}' as {{ dbt.type_string() }}) as description,
    cast('{{ segment.rule | replace("'", "''") }}' as {{ dbt.type_string() }}) as rule_sql
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endif %}
