{#- The ISO country of an email's country-code top-level domain ('.de' ->
    'DE', '.co.uk' -> 'GB'), for the countries in var
    kairos__phone_calling_codes; null for generic domains (gmail.com). -#}
{% macro kairos_country_from_email(email_expr) -%}
    {%- set tld = kairos_regexp_replace_all('lower(' ~ email_expr ~ ')', '^.*[.]', '') -%}
    case {{ tld }}
        when 'uk' then 'GB'
    {%- for country in var('kairos__phone_calling_codes').keys() if country | upper != 'GB' %}
        when '{{ country | lower }}' then '{{ country | upper }}'
    {%- endfor %}
    end
{%- endmacro %}
