{#- The decision time of a run, as a UTC `timestamp` (without time zone).

    `var('kairos__now')` when it is set (tests, replays, backfills), else the
    warehouse clock converted to UTC. Models never call the clock themselves,
    so a pinned run is reproducible. -#}
{% macro kairos_now() -%}
    {%- set pinned = var('kairos__now', '') -%}
    {%- if pinned is not none and (pinned | string | trim) != '' -%}
        {#- parsed here so a bad value fails at compile time and an offset ("Z",
            "+02:00") is converted to UTC instead of being silently dropped -#}
        {%- set parsed = modules.datetime.datetime.fromisoformat((pinned | string | trim).replace('Z', '+00:00')) -%}
        {%- if parsed.tzinfo is not none -%}
            {%- set parsed = parsed.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
        {%- endif -%}
        cast('{{ parsed.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ kairos_current_timestamp_utc() }}
    {%- endif -%}
{%- endmacro %}


{#- The warehouse clock in UTC as a timestamp without time zone. Each engine
    spells this differently (DuckDB's current_timestamp is timestamptz,
    PostgreSQL's depends on the session time zone), hence the dispatch. -#}
{% macro kairos_current_timestamp_utc() -%}
    {{ return(adapter.dispatch('kairos_current_timestamp_utc', 'kairos')()) }}
{%- endmacro %}

{% macro default__kairos_current_timestamp_utc() -%}
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__kairos_current_timestamp_utc() -%}
    cast(timezone('UTC', current_timestamp) as timestamp)
{%- endmacro %}

{% macro postgres__kairos_current_timestamp_utc() -%}
    cast((current_timestamp at time zone 'UTC') as timestamp)
{%- endmacro %}

{% macro snowflake__kairos_current_timestamp_utc() -%}
    convert_timezone('UTC', current_timestamp())::timestamp_ntz
{%- endmacro %}

{% macro bigquery__kairos_current_timestamp_utc() -%}
    current_datetime('UTC')
{%- endmacro %}

{% macro spark__kairos_current_timestamp_utc() -%}
    to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}
