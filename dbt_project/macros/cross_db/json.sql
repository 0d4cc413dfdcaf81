{#- Build a flat JSON object as text without engine JSON functions, which
    differ everywhere. `fields` is a list of (key, expression, kind) with kind
    'string', 'number' or 'string_list' (a comma-separated text value turned
    into a JSON array of strings). Nulls become JSON null. -#}
{% macro kairos_json_object(fields) -%}
    {%- set parts = ["'{'"] -%}
    {%- for key, expr, kind in fields -%}
        {%- set prefix = ('' if loop.first else ',') ~ '"' ~ key ~ '":' -%}
        {%- do parts.append("'" ~ prefix ~ "'") -%}
        {%- if kind == 'number' -%}
            {%- set value = "cast(" ~ expr ~ " as " ~ dbt.type_string() ~ ")" -%}
        {%- elif kind == 'string_list' -%}
            {%- set value = dbt.concat(["'[\"'", dbt.replace(kairos_json_escape(expr), "','", "'\",\"'"), "'\"]'"]) -%}
            {%- set value = "case when " ~ expr ~ " = '' then '[]' else " ~ value ~ " end" -%}
        {%- else -%}
            {%- set value = dbt.concat(["'\"'", kairos_json_escape(expr), "'\"'"]) -%}
        {%- endif -%}
        {%- do parts.append("coalesce(" ~ value ~ ", 'null')") -%}
    {%- endfor -%}
    {%- do parts.append("'}'") -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}


{#- Escape backslashes and double quotes (the characters that break a JSON
    string; ids and names here carry no control characters). -#}
{% macro kairos_json_escape(expr) -%}
    {{ return(adapter.dispatch('kairos_json_escape', 'kairos')(expr)) }}
{%- endmacro %}

{% macro default__kairos_json_escape(expr) -%}
    replace(replace(cast({{ expr }} as {{ dbt.type_string() }}), '\', '\\'), '"', '\"')
{%- endmacro %}

{#- BigQuery and Spark read backslashes in literals as escapes. -#}
{% macro bigquery__kairos_json_escape(expr) -%}
    {{ spark__kairos_json_escape(expr) }}
{%- endmacro %}

{% macro spark__kairos_json_escape(expr) -%}
    replace(replace(cast({{ expr }} as string), '\\', '\\\\'), '"', '\\"')
{%- endmacro %}
