{#- The earliest received_at an incremental run of the event chain reads:
    var('kairos__events_lookback_hours') before the newest received_at
    already in `relation` (the model's own table), or all of history when it
    is empty. Shared by int_events_staged and fct_events. -#}
{% macro kairos_events_lookback_since(relation) -%}
    {%- set newest -%}
        (select coalesce(max(received_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ relation }})
    {%- endset -%}
    {{ dbt.dateadd('hour', -(var('kairos__events_lookback_hours') | int), newest) }}
{%- endmacro %}
