{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The staged orders (stg_shop__orders), materialised once per build: the
    identity graph and fct_orders read this table instead of each
    recomputing the view (latest valid status row per order, phone
    normalisation) over the whole raw order history. -#}
select * from {{ ref('stg_shop__orders') }}
