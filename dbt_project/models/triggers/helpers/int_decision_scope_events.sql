{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The events the triggers read in a scoped run: those of the customers in
    decision_scope, and every event of the carts and sessions they touched
    (a cart line added from a device not linked to them still belongs to
    their cart). A trigger row of a customer in scope depends on nothing
    else of fct_events, so it comes out the same as from the whole table.
    Empty in a full run (decision_scope is empty). -#}
with

-- the carts and sessions of the customers in scope; each CTE is read once
-- and the scope is read in place, so DuckDB inlines them and the final scan
-- reads three columns of fct_events, fetching whole rows only for the
-- matches (measured at 1M people: 1.1-1.7 s, against 2.0 s with shared CTEs)
scope_carts as (

    select events.cart_id
    from {{ ref('fct_events') }} as events
    where events.customer_key in (select customer_key from {{ ref('decision_scope') }})
        and events.cart_id is not null

),

scope_sessions as (

    select events.session_id
    from {{ ref('fct_events') }} as events
    where events.customer_key in (select customer_key from {{ ref('decision_scope') }})
        and events.session_id is not null

),

final as (

    select *
    from {{ ref('fct_events') }}
    where customer_key in (select customer_key from {{ ref('decision_scope') }})
        or cart_id in (select cart_id from scope_carts)
        or session_id in (select session_id from scope_sessions)

)

select * from final
