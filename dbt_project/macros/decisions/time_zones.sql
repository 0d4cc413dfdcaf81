{#- Local time in the customer's time zone, portable.

    Timestamps are UTC `timestamp` (without time zone) everywhere; these turn
    one into the wall-clock time of an IANA zone and back. DuckDB (ICU) and
    PostgreSQL both know the IANA database but spell the conversion
    differently, hence the dispatch. Daylight-saving changes are handled by
    the engines: 08:00 local is 06:00 UTC in Berlin in summer, 07:00 in winter.
    `tz` is an SQL expression (a column or a quoted literal) holding a zone
    the engine knows: callers pass zones checked against the seed time_zones
    (an unknown zone raises on both engines). -#}

{#- UTC timestamp -> local wall-clock timestamp (without time zone) -#}
{% macro kairos_utc_to_local(ts, tz) -%}
    {{ return(adapter.dispatch('kairos_utc_to_local', 'kairos')(ts, tz)) }}
{%- endmacro %}

{% macro default__kairos_utc_to_local(ts, tz) -%}
    cast((({{ ts }}) at time zone 'UTC') at time zone ({{ tz }}) as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__kairos_utc_to_local(ts, tz) -%}
    cast(timezone({{ tz }}, timezone('UTC', {{ ts }})) as timestamp)
{%- endmacro %}


{#- local wall-clock timestamp -> UTC timestamp (without time zone). A local
    time that does not exist (the hour skipped in spring) is resolved by the
    engine; send times never land there because quiet hours cover the night. -#}
{% macro kairos_local_to_utc(ts, tz) -%}
    {{ return(adapter.dispatch('kairos_local_to_utc', 'kairos')(ts, tz)) }}
{%- endmacro %}

{% macro default__kairos_local_to_utc(ts, tz) -%}
    cast((({{ ts }}) at time zone ({{ tz }})) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__kairos_local_to_utc(ts, tz) -%}
    cast(timezone('UTC', timezone({{ tz }}, {{ ts }})) as timestamp)
{%- endmacro %}


{#- Minutes after local midnight of a local timestamp (0..1439). -#}
{% macro kairos_minute_of_day(local_ts) -%}
    cast(extract(hour from {{ local_ts }}) * 60 + extract(minute from {{ local_ts }}) as integer)
{%- endmacro %}


{#- Local midnight of a local timestamp, as a timestamp. -#}
{% macro kairos_local_midnight(local_ts) -%}
    cast(cast({{ local_ts }} as date) as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- Quiet hours: the local timestamp itself when it lies outside the quiet
    window [start, end) (minutes after midnight), else the window's end: the
    same day when the window spans midnight and we are past midnight (or the
    window lies within one day), the next day when we are before midnight.
    start = end means no quiet hours. Deferral, never a drop. -#}
{% macro kairos_defer_quiet_hours(local_ts, start_minute, end_minute) -%}
    {%- set m = kairos_minute_of_day(local_ts) -%}
    {%- set midnight = kairos_local_midnight(local_ts) -%}
    {%- if start_minute == end_minute -%}
        {{ local_ts }}
    {%- elif start_minute > end_minute -%}
        case
            when {{ m }} >= {{ start_minute }} then {{ dbt.dateadd('minute', 1440 + end_minute, midnight) }}
            when {{ m }} < {{ end_minute }} then {{ dbt.dateadd('minute', end_minute, midnight) }}
            else {{ local_ts }}
        end
    {%- else -%}
        case
            when {{ m }} >= {{ start_minute }} and {{ m }} < {{ end_minute }} then {{ dbt.dateadd('minute', end_minute, midnight) }}
            else {{ local_ts }}
        end
    {%- endif -%}
{%- endmacro %}


{#- True when a local timestamp lies inside the quiet window. -#}
{% macro kairos_in_quiet_hours(local_ts, start_minute, end_minute) -%}
    {%- set m = kairos_minute_of_day(local_ts) -%}
    {%- if start_minute == end_minute -%}
        false
    {%- elif start_minute > end_minute -%}
        ({{ m }} >= {{ start_minute }} or {{ m }} < {{ end_minute }})
    {%- else -%}
        ({{ m }} >= {{ start_minute }} and {{ m }} < {{ end_minute }})
    {%- endif -%}
{%- endmacro %}
