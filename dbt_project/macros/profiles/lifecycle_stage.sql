{#- The lifecycle stage from order history, one rule for the profile
    (dim_customers) and the lifecycle segment:
    - prospect: known (registered or left an email) but never ordered
    - new:      first order within kairos__lifecycle_new_days
    - active:   last order within kairos__lifecycle_active_days
    - dormant:  last order within kairos__lifecycle_dormant_days
    - lost:     last order longer ago than that
    Arguments are expressions: orders placed (not cancelled) and whole days
    since the first and the last of them. -#}
{% macro kairos_lifecycle_stage(orders_count, days_since_first_order, days_since_last_order) -%}
    case
        when coalesce({{ orders_count }}, 0) = 0 or {{ days_since_last_order }} is null then 'prospect'
        when {{ days_since_first_order }} <= {{ var('kairos__lifecycle_new_days') }} then 'new'
        when {{ days_since_last_order }} <= {{ var('kairos__lifecycle_active_days') }} then 'active'
        when {{ days_since_last_order }} <= {{ var('kairos__lifecycle_dormant_days') }} then 'dormant'
        else 'lost'
    end
{%- endmacro %}
