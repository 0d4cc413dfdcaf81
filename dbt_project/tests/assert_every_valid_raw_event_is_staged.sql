{#- The incremental int_events_staged holds exactly the events of
    stg_shop__events (the view over the whole raw click stream). An event
    missing from the table landed with a received_at older than
    var('kairos__events_lookback_hours') before the newest staged event: raise
    the var, or rebuild with `dbt run -s int_events_staged+ --full-refresh`. -#}
with

expected as (

    select event_id from {{ ref('stg_shop__events') }}

),

staged as (

    select event_id from {{ ref('int_events_staged') }}

)

select 'not staged' as problem, expected.event_id
from expected
left join staged
    on expected.event_id = staged.event_id
where staged.event_id is null

union all

select 'staged but not in stg_shop__events', staged.event_id
from staged
left join expected
    on staged.event_id = expected.event_id
where expected.event_id is null
