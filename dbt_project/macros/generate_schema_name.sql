{#- Layers get their own plainly named schema (staging, marts, ...), not
    <target schema>_<layer>: channels and analysts address them by name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
