{{ config(severity='warn') }}
{#- Label propagation runs var('kairos__identity_max_iterations') rounds; a
    merging link whose two ends still carry different customer keys means a
    component was longer than that and stayed split. Raise the var. -#}
select edges.edge_id, left_ids.customer_key as left_customer_key, right_ids.customer_key as right_customer_key
from {{ ref('int_identity_edges') }} as edges
inner join {{ ref('int_identities_stitched') }} as left_ids
    on edges.left_type = left_ids.identifier_type
    and edges.left_value = left_ids.identifier_value
inner join {{ ref('int_identities_stitched') }} as right_ids
    on edges.right_type = right_ids.identifier_type
    and edges.right_value = right_ids.identifier_value
where edges.is_merging
    and left_ids.customer_key <> right_ids.customer_key
