{#- Trimmed, lower-cased email, or null when the text is not a plausible
    address (one @, a dotted domain with a 2+ letter top-level domain, no
    spaces, no leading/trailing/double dots). Plausible, not verified: the
    ESP's bounces tell the rest. -#}
{% macro normalise_email(col) -%}
    case
        when {{ kairos_regexp_matches(
                'lower(trim(' ~ col ~ '))',
                '^[a-z0-9_%+-]+([.][a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)*[.][a-z]{2,}$'
            ) }}
            then lower(trim({{ col }}))
    end
{%- endmacro %}
