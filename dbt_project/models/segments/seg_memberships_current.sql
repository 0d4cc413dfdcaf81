{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Who is in which segment now (as of kairos_now()): one row per segment of
    the registry (var kairos__segments) and person whose profile matches the
    segment's rule. Rules are predicates over marts.dim_customers plus
    helpers computed here:
    - historic_clv_percentile: 0-1 rank of historic CLV among people with a
      paid order (null for the others). -#}
{%- set segments = kairos_segment_definitions() -%}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

buyers as (

    select
        customer_key,
        percent_rank() over (order by historic_clv) as historic_clv_percentile
    from customers
    where revenue_orders_count > 0

),

profiles as (

    select customers.*, buyers.historic_clv_percentile
    from customers
    left join buyers
        on customers.customer_key = buyers.customer_key

),

memberships as (

{%- if segments | length == 0 %}
    select cast(null as {{ dbt.type_string() }}) as segment_id, customer_key from profiles where 1 = 0
{%- else %}
{%- for segment in segments %}
    select cast('{{ segment.id }}' as {{ dbt.type_string() }}) as segment_id, customer_key
    from profiles
    where {{ segment.rule }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
{%- endif %}

)

select
    {{ kairos_surrogate_key(['segment_id', 'customer_key']) }} as segment_membership_id,
    segment_id,
    customer_key,
    {{ kairos_now() }} as as_of
from memberships
