{#- A phone number in E.164 (+<country code><national number>), or null when
    the result is implausible.

    1. Read "(0)" as the trunk 0 ("(0)170 ..." is national, "+49 (0)170 ..."
       international), drop spaces and punctuation ( ) . / - ; anything else
       (letters, "ext") makes the number implausible.
    2. "+" or "00" starts an international number; a national trunk 0 right
       after the country code is dropped ("+49 0170 ..." -> "+49170...").
    3. A national number starting with 0 gets the calling code of the
       customer's country (var kairos__phone_calling_codes, keyed by ISO
       country code); NANP countries (calling code 1) have no trunk 0, so
       10 national digits, or 11 starting with 1, are read as +1.
    4. Plausible = "+" then 8 to 15 digits, not starting with 0.

    When the country is unknown (a guest checkout), a number written in the
    bare national "(0)" style ("(0)170-123 45 67", a home-market habit) is
    read with var kairos__phone_default_country (empty: stays unknown, so
    the number is null); other national numbers without a country stay
    null rather than being guessed into a wrong, deliverable number. -#}
{% macro normalise_phone(col, country_code_col, default_country=var('kairos__phone_default_country', '')) -%}
    {%- set codes = var('kairos__phone_calling_codes') -%}
    {%- set trunk_zero_codes = [] -%}
    {%- for country, code in codes.items() if (code | string) != '1' -%}
        {%- do trunk_zero_codes.append(code | string) -%}
    {%- endfor -%}
    {#- "(0)" is the national trunk prefix: kept as 0 here and dropped after a country code below -#}
    {%- set raw = "replace(trim(cast(" ~ col ~ " as " ~ dbt.type_string() ~ ")), '(0)', '0')" -%}
    {%- set digits = kairos_regexp_replace_all(raw, '[^0-9]', '') -%}
    {%- set default_country = (default_country or '') | string | trim | upper -%}
    {%- set country_expr -%}
        {%- if default_country -%}
        coalesce(
            nullif(upper(trim(cast({{ country_code_col }} as {{ dbt.type_string() }}))), ''),
            case when substr(trim(cast({{ col }} as {{ dbt.type_string() }})), 1, 3) = '(0)' then '{{ default_country }}' end
        )
        {%- else -%}
        upper(trim(cast({{ country_code_col }} as {{ dbt.type_string() }})))
        {%- endif -%}
    {%- endset -%}
    {%- set calling_code -%}
        case {{ country_expr }}
        {%- for country, code in codes.items() %}
            when '{{ country | upper }}' then '{{ code }}'
        {%- endfor %}
        end
    {%- endset -%}
    {%- set candidate -%}
        case
            when not {{ kairos_regexp_matches(raw, '^[+]?[0-9 ()./-]+$') }} then null
            when substr({{ raw }}, 1, 1) = '+' then {{ dbt.concat(["'+'", digits]) }}
            when substr({{ digits }}, 1, 2) = '00' then {{ dbt.concat(["'+'", "substr(" ~ digits ~ ", 3)"]) }}
            when ({{ calling_code }}) = '1' then
                case
                    when {{ dbt.length(digits) }} = 10 and substr({{ digits }}, 1, 1) not in ('0', '1')
                        then {{ dbt.concat(["'+1'", digits]) }}
                    when {{ dbt.length(digits) }} = 11 and substr({{ digits }}, 1, 1) = '1' then {{ dbt.concat(["'+'", digits]) }}
                end
            when substr({{ digits }}, 1, 1) = '0' and substr({{ digits }}, 2, 1) <> '0' and ({{ calling_code }}) is not null
                then {{ dbt.concat(["'+'", "(" ~ calling_code ~ ")", "substr(" ~ digits ~ ", 2)"]) }}
        end
    {%- endset -%}
    {%- set without_trunk = kairos_regexp_replace_all(candidate, '^[+](' ~ (trunk_zero_codes | join('|')) ~ ')0', '+\\1') -%}
    case
        when {{ kairos_regexp_matches(without_trunk, '^[+][1-9][0-9]{7,14}$') }} then {{ without_trunk }}
    end
{%- endmacro %}
