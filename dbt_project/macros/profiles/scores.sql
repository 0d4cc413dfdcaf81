{#- RFM group from the three 1-5 scores (5 = best: most recent, most
    frequent, highest spend), the usual e-commerce reading of the grid.
    Evaluated top to bottom; people without orders have no group. -#}
{% macro kairos_rfm_segment(r, f, m) -%}
    case
        when {{ r }} is null then null
        when {{ r }} >= 4 and {{ f }} >= 4 and {{ m }} >= 4 then 'champions'
        when {{ r }} >= 3 and {{ f }} >= 4 then 'loyal'
        when {{ r }} >= 4 and {{ f }} <= 1 then 'new_customers'
        when {{ r }} >= 4 and {{ f }} >= 2 then 'potential_loyalists'
        when {{ r }} = 3 and {{ f }} <= 3 then 'need_attention'
        when {{ r }} <= 1 and {{ f }} >= 4 then 'cannot_lose'
        when {{ r }} <= 2 and {{ f }} >= 3 then 'at_risk'
        when {{ r }} = 2 and {{ f }} <= 2 then 'about_to_sleep'
        else 'hibernating'
    end
{%- endmacro %}


{#- A 1-5 score from a value's cumulative distribution among the people that
    have one: ceil(5 * cume_dist), so equal values share a score (60% of
    people with one order all get the same frequency score). `order_by` is
    e.g. 'revenue' (higher is better) or 'days_since_last_order desc'
    (fewer days is better). -#}
{% macro kairos_quintile_score(order_by, partition_filter) -%}
    case
        when {{ partition_filter }} then
            cast(ceil(5 * cume_dist() over (
                partition by case when {{ partition_filter }} then 1 else 0 end
                order by {{ order_by }}
            )) as integer)
    end
{%- endmacro %}


{#- The smallest / largest of several expressions, ignoring nulls (null only
    when all are null). least()/greatest() disagree across engines on nulls;
    each argument is coalesced with the others, which never moves the result
    past the true extreme. -#}
{% macro kairos_least_not_null(expressions) -%}
    least(
    {%- for expr in expressions %}
        coalesce({{ expr }}{% for other in expressions if other != expr %}, {{ other }}{% endfor %}){{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}

{% macro kairos_greatest_not_null(expressions) -%}
    greatest(
    {%- for expr in expressions %}
        coalesce({{ expr }}{% for other in expressions if other != expr %}, {{ other }}{% endfor %}){{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
