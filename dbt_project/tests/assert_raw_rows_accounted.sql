{#- Nothing is dropped silently: for every raw table, each landed row is
    either staged, quarantined (with a reason) or, for the versioned CRM
    customers, orders and products, a superseded older version of a row that
    is staged. Returns the tables where the numbers do not add up. -#}
{%- set tables = [
    ('shop', 'events', 'stg_shop__events', 'qrn_shop__events', 'base_shop__events'),
    ('shop', 'orders', 'stg_shop__orders', 'qrn_shop__orders', 'base_shop__orders'),
    ('shop', 'order_lines', 'stg_shop__order_lines', 'qrn_shop__order_lines', 'base_shop__order_lines'),
    ('shop', 'products', 'stg_shop__products', 'qrn_shop__products', 'base_shop__products'),
    ('shop', 'inventory_levels', 'stg_shop__inventory_levels', 'qrn_shop__inventory_levels', 'base_shop__inventory_levels'),
    ('shop', 'price_history', 'stg_shop__price_history', 'qrn_shop__price_history', 'base_shop__price_history'),
    ('crm', 'customers', 'stg_crm__customers', 'qrn_crm__customers', 'base_crm__customers'),
    ('crm', 'consents', 'stg_crm__consents', 'qrn_crm__consents', 'base_crm__consents'),
    ('messaging', 'contact_history', 'stg_messaging__contact_history', 'qrn_messaging__contact_history', 'base_messaging__contact_history'),
] -%}

with

accounting as (
{% for source_name, table_name, staged, quarantined, base in tables %}
    select
        '{{ source_name }}.{{ table_name }}' as raw_table,
        (select count(*) from {{ source(source_name, table_name) }}) as raw_rows,
        (select count(*) from {{ ref(staged) }}) as staged_rows,
        (select count(*) from {{ ref(quarantined) }}) as quarantined_rows,
        (select count(*) from {{ ref(base) }} where reject_reason is null and is_superseded) as superseded_rows
    {% if not loop.last %}union all{% endif %}
{% endfor %}
)

select *
from accounting
where raw_rows <> staged_rows + quarantined_rows + superseded_rows
