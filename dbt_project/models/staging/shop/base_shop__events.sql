{#- Every raw event, typed and checked: the one place that decides which rows
    staging uses (reject_reason is null) and which go to quarantine. The
    row-by-row checks are the macro shop_events_checked (shared with the
    incremental int_events_staged); the cross-row ones are here. -#}
with

checked as (

    {{ shop_events_checked(source('shop', 'events')) }}

),

keyed as (

    select
        checked.*,
        {{ kairos_raw_row_key() }} as raw_row_key
    from checked

),

ranked as (

    select
        keyed.*,
        -- the first copy received wins; later copies of the same event are duplicates
        case
            when validation_reason is null then
                row_number() over (
                    partition by clean_event_id, validation_reason
                    order by received_at_ts, raw_row_key
                )
        end as copy_number
    from keyed

)

select
    ranked.*,
    coalesce(validation_reason, case when copy_number > 1 then 'duplicate' end) as reject_reason,
    false as is_superseded
from ranked
