{#- Parse ISO 8601 text into a UTC timestamp / a date, or null when the text
    is not a valid ISO value. The same strict gate runs on every engine so
    that DuckDB and PostgreSQL accept and reject exactly the same rows (DuckDB
    alone would accept more formats; PostgreSQL's cast raises instead of
    returning null). Accepted: YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]];
    an explicit offset is converted to UTC. -#}

{% macro kairos_iso_timestamp_pattern() -%}
^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$
{%- endmacro %}

{% macro kairos_iso_offset_pattern() -%}
(Z|[+-][0-9]{2}(:?[0-9]{2})?)$
{%- endmacro %}

{#- The regex lets 2024-02-30 through; this rejects days past the month's end
    with plain arithmetic (portable, and never raises). `expr` must already
    match the pattern above. -#}
{% macro kairos_iso_day_exists(expr) -%}
    (
        cast(substr({{ expr }}, 9, 2) as integer) <=
        case cast(substr({{ expr }}, 6, 2) as integer)
            when 2 then
                case
                    when mod(cast(substr({{ expr }}, 1, 4) as integer), 400) = 0 then 29
                    when mod(cast(substr({{ expr }}, 1, 4) as integer), 100) = 0 then 28
                    when mod(cast(substr({{ expr }}, 1, 4) as integer), 4) = 0 then 29
                    else 28
                end
            when 4 then 30
            when 6 then 30
            when 9 then 30
            when 11 then 30
            else 31
        end
    )
{%- endmacro %}

{#- True when `text_expr` is a valid ISO timestamp (see above). -#}
{% macro kairos_is_iso_timestamp(text_expr) -%}
    coalesce(
        case
            when {{ kairos_regexp_matches('trim(' ~ text_expr ~ ')', kairos_iso_timestamp_pattern()) }}
                then {{ kairos_iso_day_exists('trim(' ~ text_expr ~ ')') }}
        end,
        false
    )
{%- endmacro %}

{% macro try_cast_timestamp(text_expr) -%}
    {{ return(adapter.dispatch('try_cast_timestamp', 'kairos')(text_expr)) }}
{%- endmacro %}

{% macro default__try_cast_timestamp(text_expr) -%}
    case
        when {{ kairos_is_iso_timestamp(text_expr) }}
            then cast(trim({{ text_expr }}) as {{ dbt.type_timestamp() }})
    end
{%- endmacro %}

{% macro duckdb__try_cast_timestamp(text_expr) -%}
    case
        when not {{ kairos_is_iso_timestamp(text_expr) }} then null
        when {{ kairos_regexp_matches('trim(' ~ text_expr ~ ')', kairos_iso_offset_pattern()) }}
            then cast(timezone('UTC', try_cast(trim({{ text_expr }}) as timestamptz)) as timestamp)
        else try_cast(trim({{ text_expr }}) as timestamp)
    end
{%- endmacro %}

{% macro postgres__try_cast_timestamp(text_expr) -%}
    case
        when not {{ kairos_is_iso_timestamp(text_expr) }} then null
        when {{ kairos_regexp_matches('trim(' ~ text_expr ~ ')', kairos_iso_offset_pattern()) }}
            then cast((cast(trim({{ text_expr }}) as timestamptz) at time zone 'UTC') as timestamp)
        else cast(trim({{ text_expr }}) as timestamp)
    end
{%- endmacro %}


{#- A date from YYYY-MM-DD text, or null. -#}
{% macro try_cast_date(text_expr) -%}
    {{ return(adapter.dispatch('try_cast_date', 'kairos')(text_expr)) }}
{%- endmacro %}

{% macro default__try_cast_date(text_expr) -%}
    case
        when coalesce(
            case
                when {{ kairos_regexp_matches('trim(' ~ text_expr ~ ')', '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$') }}
                    then {{ kairos_iso_day_exists('trim(' ~ text_expr ~ ')') }}
            end,
            false
        )
            then cast(trim({{ text_expr }}) as date)
    end
{%- endmacro %}
