{#- The segment registry (var kairos__segments), expanded and checked.

    Each entry: id, group, owner, description, rule (an SQL predicate over the
    columns of marts.dim_customers plus the helpers of seg_memberships_current,
    e.g. historic_clv_percentile), optional active (default true) and optional
    for_each: a list of values; the entry then stands for one segment per
    value, with '{value}' replaced in id, description and rule.
    Returns a list of dicts with id, group, owner, description, rule. Compile
    fails on a missing field or a duplicate id: a broken registry must not
    build half the segments. -#}
{% macro kairos_segment_definitions() -%}
    {%- set out = [] -%}
    {%- set seen = [] -%}
    {%- for entry in var('kairos__segments', []) -%}
        {%- for field in ['id', 'group', 'owner', 'description', 'rule'] -%}
            {%- if not entry.get(field) -%}
                {{ exceptions.raise_compiler_error("kairos__segments: entry " ~ (entry.get('id') or loop.index) ~ " has no " ~ field) }}
            {%- endif -%}
        {%- endfor -%}
        {%- if entry.get('active', true) -%}
            {%- set values = entry.get('for_each') or [none] -%}
            {%- for value in values -%}
                {%- set item = {
                    'id': entry['id'] if value is none else entry['id'] | replace('{value}', value),
                    'group': entry['group'],
                    'owner': entry['owner'],
                    'description': entry['description'] if value is none else entry['description'] | replace('{value}', value),
                    'rule': entry['rule'] if value is none else entry['rule'] | replace('{value}', value),
                } -%}
                {%- if item['id'] in seen -%}
                    {{ exceptions.raise_compiler_error("kairos__segments: duplicate segment id " ~ item['id']) }}
                {%- endif -%}
                {%- do seen.append(item['id']) -%}
                {%- do out.append(item) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}


{#- Fails when a person has two open stays in one segment. -#}
{% test kairos_one_open_stay_per_member(model) %}
select segment_id, customer_key, count(*) as open_stays
from {{ model }}
where exited_at is null
group by 1, 2
having count(*) > 1
{% endtest %}
