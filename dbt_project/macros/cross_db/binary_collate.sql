{#- Compare text byte by byte. Where "smallest" picks an identity (the label
    of an identity component), the order must not depend on the database's
    locale: PostgreSQL sorts by its collation (en_US ignores punctuation),
    DuckDB and most warehouses compare bytes. -#}
{% macro kairos_binary_collate(expr) -%}
    {{ return(adapter.dispatch('kairos_binary_collate', 'kairos')(expr)) }}
{%- endmacro %}

{% macro default__kairos_binary_collate(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro postgres__kairos_binary_collate(expr) -%}
    ({{ expr }} collate "C")
{%- endmacro %}
