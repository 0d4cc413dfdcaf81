{#- Fails when label propagation stopped before every component was found:
    a merging link whose two ends sit in different components. Raise var
    kairos__identity_max_iterations. -#}
{% test kairos_identity_converged(model, edges) %}
select edges.edge_id, left_ids.component_id as left_component_id, right_ids.component_id as right_component_id
from {{ edges }} as edges
inner join {{ model }} as left_ids
    on left_ids.identifier_id = {{ dbt.concat(['edges.left_type', "':'", 'edges.left_value']) }}
inner join {{ model }} as right_ids
    on right_ids.identifier_id = {{ dbt.concat(['edges.right_type', "':'", 'edges.right_value']) }}
where edges.is_merging
    and left_ids.component_id <> right_ids.component_id
{% endtest %}


{#- Fails when one customer_key stands for two components (two people):
    keys must never be reused. -#}
{% test kairos_one_component_per_key(model) %}
select customer_key, count(distinct component_id) as components
from {{ model }}
where customer_key is not null
group by 1
having count(distinct component_id) > 1
{% endtest %}
