{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Connected components of the merging links: one row per identifier with
    the component it belongs to (component_id = the component's smallest
    node id, see kairos_identity_node_id).

    Portable SQL, no recursion: var('kairos__identity_max_iterations')
    rounds unrolled in Jinja over a contracted graph. Every round
    1. hooking: every tree (the nodes sharing a label) takes the smallest
       label among its neighbours' labels, across all links of all its
       members (not just its own node's), so a whole tree moves at once;
    2. pointer jumping, twice: parent := parent of parent;
    3. contraction: links are rewritten between the new labels and links
       inside one tree are dropped.
    Labels only decrease and every round shortens the paths between a node
    and its component's minimum geometrically: in simulations chains of
    20,000 identifiers in random order converge in 9 rounds, trees and
    grids in 5 (naive min-label propagation needs as many rounds as the
    chain is long). Contraction makes later rounds cheap: after the first
    round almost every link of a real identity graph (stars around a
    customer id) is inside one tree and gone. A node's final label is its
    round-1 parent, then that label's round-2 parent, and so on. The data
    test kairos_identity_converged fails when a component is still split:
    raise the var.

    Nodes are numbered in byte order of their text id first (joins and
    minimums on integers are cheaper than on text, and byte order keeps the
    result identical on every engine). Blocked and shared identifiers are
    in no component. -#}
{%- set rounds = var('kairos__identity_max_iterations') | int -%}

with

identifiers as (

    select * from {{ ref('int_identity_identifiers') }}

),

shared as (

    select left_type as identifier_type, left_value as identifier_value
    from {{ ref('int_identity_edges') }}
    where left_is_shared
    union
    select right_type, right_value
    from {{ ref('int_identity_edges') }}
    where right_is_shared

),

merging_edges as (

    select
        {{ kairos_identity_node_id('left_type', 'left_value') }} as left_node,
        {{ kairos_identity_node_id('right_type', 'right_value') }} as right_node
    from {{ ref('int_identity_edges') }}
    where is_merging

),

-- self-links dropped here, on the text ids (node numbers are a bijection of
-- them): an inequality between the two graph_nodes lookups in links would
-- be a predicate the optimizer can join them by (see half_links_1)
links_between as (

    select left_node, right_node
    from merging_edges
    where left_node <> right_node

),

graph_nodes as (

    select
        node_id,
        row_number() over (order by {{ kairos_binary_collate('node_id') }}) as node_num
    from (
        select left_node as node_id from links_between
        union
        select right_node from links_between
    ) as linked

),

links as (

    select left_nodes.node_num as node, right_nodes.node_num as neighbour
    from links_between
    inner join graph_nodes as left_nodes
        on links_between.left_node = left_nodes.node_id
    inner join graph_nodes as right_nodes
        on links_between.right_node = right_nodes.node_id

),

-- undirected, between distinct nodes
links_0 as (

    select node as a, neighbour as b from links
    union
    select neighbour, node from links

),
{%- for i in range(1, rounds + 1) %}

-- round {{ i }}: each tree (a label in links_{{ i - 1 }}) hooks to its smallest neighbour
hooks_{{ i }} as (

    select a as label, least(a, min(b)) as parent
    from links_{{ i - 1 }}
    group by a

),

jumped_{{ i }} as (

    select hooks.label, coalesce(parents.parent, hooks.parent) as parent
    from hooks_{{ i }} as hooks
    left join hooks_{{ i }} as parents
        on hooks.parent = parents.label

),

parents_{{ i }} as (

    select jumped.label, coalesce(grandparents.parent, jumped.parent) as parent
    from jumped_{{ i }} as jumped
    left join jumped_{{ i }} as grandparents
        on jumped.parent = grandparents.label

),

-- contraction in two steps, the first one a distinct: relabelling both ends
-- in one join, `left_parents.parent <> right_parents.parent` is a predicate
-- between the two parents_{{ i }} lookups, and DuckDB (which estimates CTEs
-- at a few rows) joins them by it first: a nested loop over all pairs of
-- trees, quadratic in the data (100,000 people filled 70 GB of temp files).
-- An aggregate ends a join tree, so each step is one equi-join.
half_links_{{ i }} as (

    select distinct parents.parent as a, current_links.b
    from links_{{ i - 1 }} as current_links
    inner join parents_{{ i }} as parents
        on current_links.a = parents.label

),

links_{{ i }} as (

    select distinct half_links.a, parents.parent as b
    from half_links_{{ i }} as half_links
    inner join parents_{{ i }} as parents
        on half_links.b = parents.label
    where half_links.a <> parents.parent

),
{%- endfor %}

labels_0 as (

    select node_num as node, node_num as label from graph_nodes

),
{%- for i in range(1, rounds + 1) %}

labels_{{ i }} as (

    select labels.node, coalesce(parents.parent, labels.label) as label
    from labels_{{ i - 1 }} as labels
    left join parents_{{ i }} as parents
        on labels.label = parents.label

),
{%- endfor %}

components as (

    select
        members.node_id,
        roots.node_id as component_id
    from labels_{{ rounds }} as labels
    inner join graph_nodes as members
        on labels.node = members.node_num
    inner join graph_nodes as roots
        on labels.label = roots.node_num

),

final as (

    select
        identifiers.identifier_id,
        identifiers.identifier_type,
        identifiers.identifier_value,
        identifiers.node_id,
        case
            when identifiers.is_blocked or shared.identifier_value is not null then null
            else coalesce(components.component_id, identifiers.node_id)
        end as component_id,
        identifiers.is_blocked,
        shared.identifier_value is not null as is_shared
    from identifiers
    left join shared
        on identifiers.identifier_type = shared.identifier_type
        and identifiers.identifier_value = shared.identifier_value
    left join components
        on identifiers.node_id = components.node_id

)

select * from final
