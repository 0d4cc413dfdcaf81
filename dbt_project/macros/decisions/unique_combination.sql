{#- Generic test: the combination of columns is unique (a compound primary key). -#}
{% test kairos_unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}


{#- Generic test: every row satisfies an SQL predicate (rows that do not are failures). -#}
{% test kairos_expression_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
