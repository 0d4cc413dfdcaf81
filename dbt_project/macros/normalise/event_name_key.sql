{#- The lookup key for event names: lower case, letters and digits only, so
    "Product Viewed", "productViewed" and "product_viewed" all read
    "productviewed" and the seed event_name_map needs one row per spelling
    family, not per spelling. -#}
{% macro kairos_event_name_key(col) -%}
    {{ kairos_regexp_replace_all('lower(trim(cast(' ~ col ~ ' as ' ~ dbt.type_string() ~ ')))', '[^a-z0-9]', '') }}
{%- endmacro %}
