{#- A stable bucket 0..buckets-1 from text parts: the first 8 hex digits of
    md5('part1|part2|...') read as an integer, modulo `buckets`.

    Holdouts must put the same customer in the same group on every run and
    on every engine. md5 is the same everywhere (dbt.hash); reading hex as a
    number is not (DuckDB and PostgreSQL cast differently), so the digits are
    summed by their position in '0123456789abcdef', which every engine does
    alike. Python mirror: kairos.scenarios.holdout_bucket. -#}
{% macro kairos_hash_bucket(parts, buckets=10000) -%}
    {%- set pieces = [] -%}
    {%- for part in parts -%}
        {%- do pieces.append("cast(" ~ part ~ " as " ~ dbt.type_string() ~ ")") -%}
        {%- if not loop.last -%}{%- do pieces.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {%- set h = dbt.hash(dbt.concat(pieces)) -%}
    mod(
        {%- for i in range(8) %}
        cast({{ dbt.position("substr(" ~ h ~ ", " ~ (i + 1) ~ ", 1)", "'0123456789abcdef'") }} - 1 as {{ dbt.type_bigint() }}) * {{ 16 ** (7 - i) }}{{ ' +' if not loop.last }}
        {%- endfor %},
        {{ buckets }}
    )
{%- endmacro %}


{#- A value as text for messages, '?' when null (concatenation with a null
    would blank the whole message on every engine). -#}
{% macro kairos_as_text(expr) -%}
    coalesce(cast({{ expr }} as {{ dbt.type_string() }}), '?')
{%- endmacro %}
