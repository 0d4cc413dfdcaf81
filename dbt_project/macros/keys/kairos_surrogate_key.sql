{#- A stable text key from one or more expressions: md5 of the values as
    text joined by '|', with nulls spelled '<null>' so (null, 'a') and
    ('', 'a') differ. dbt.hash is md5 on DuckDB and PostgreSQL alike, so keys
    are identical across warehouses and runs. -#}
{% macro kairos_surrogate_key(expressions) -%}
    {%- if expressions is string -%}{%- set expressions = [expressions] -%}{%- endif -%}
    {%- set parts = [] -%}
    {%- for expr in expressions -%}
        {%- do parts.append("coalesce(cast(" ~ expr ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{#- Text id cleaned of padding; empty becomes null. Raw ids may land as
    numbers or text depending on the loader. -#}
{% macro kairos_clean_text(expr) -%}
    nullif(trim(cast({{ expr }} as {{ dbt.type_string() }})), '')
{%- endmacro %}


{#- A key for one raw row: hash of every listed raw column plus the row's
    ordinal among identical copies, so even exact duplicates get distinct,
    reproducible keys. Use as `raw_row_hash` in one CTE and finish with
    kairos_raw_row_key() in the next. -#}
{% macro kairos_raw_row_key(hash_column='raw_row_hash') -%}
    {{ dbt.concat([hash_column, "'-'", "cast(row_number() over (partition by " ~ hash_column ~ " order by " ~ hash_column ~ ") as " ~ dbt.type_string() ~ ")"]) }}
{%- endmacro %}
