{#- The hour of the day (0-23) of a timestamp, as an integer. (UTC -> local
    wall-clock time is kairos_utc_to_local in macros/decisions/time_zones.sql.) -#}
{% macro kairos_hour_of(ts_expr) -%}
    cast(extract(hour from {{ ts_expr }}) as integer)
{%- endmacro %}
