{#- The text id of an identity-graph node. Customer ids sort first ('0:<id>')
    and every other identifier after ('1:<type>:<value>'), so the smallest
    node of a component (byte order) is its smallest customer id when it has
    one: the component's label, and the seed of its customer_key. -#}
{% macro kairos_identity_node_id(type_expr, value_expr) -%}
    case
        when {{ type_expr }} = 'customer_id' then {{ dbt.concat(["'0:'", value_expr]) }}
        else {{ dbt.concat(["'1:'", type_expr, "':'", value_expr]) }}
    end
{%- endmacro %}


{#- The per-type linking limits (var kairos__identity_max_links) as a list of
    (identifier_type, linked_type, limit): an identifier of identifier_type
    linked to more than `limit` distinct identifiers of linked_type is shared
    (a family tablet, a POS terminal, an agency inbox) and merges nobody.
    Types missing from the var fall back to
    kairos__identity_max_customers_per_device customer ids. -#}
{% macro kairos_identity_link_limits() -%}
    {%- set limits = var('kairos__identity_max_links', {}) or {} -%}
    {%- set fallback = var('kairos__identity_max_customers_per_device', 3) | int -%}
    {%- set out = [] -%}
    {%- for identifier_type in ['anonymous_id', 'email', 'phone', 'push_token'] -%}
        {%- set per_type = limits.get(identifier_type, {}) or {} -%}
        {%- if 'customer_id' not in per_type -%}
            {%- do out.append((identifier_type, 'customer_id', fallback)) -%}
        {%- endif -%}
        {%- for linked_type, limit in per_type.items() -%}
            {%- do out.append((identifier_type, linked_type, limit | int)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
