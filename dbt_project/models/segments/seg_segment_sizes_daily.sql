{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- Segment sizes over time: members of every segment at the end of every
    day on which any membership changed (and today), with the day's entries
    and exits, from seg_membership_history. Sizes only change when the
    pipeline runs, so these days describe the whole curve. -#}
with

history as (

    select * from {{ ref('seg_membership_history') }}

),

entries as (

    select segment_id, cast(entered_at as date) as day, count(*) as entered
    from history
    group by 1, 2

),

exits as (

    select segment_id, cast(exited_at as date) as day, count(*) as exited
    from history
    where exited_at is not null
    group by 1, 2

),

-- a stay carried over a merge is an exit (old key) and an entry (new key):
-- the size moves only when two members became one person
days as (

    select day from entries
    union
    select day from exits
    union
    select cast({{ kairos_now() }} as date)

),

segments as (

    select segment_id from {{ ref('seg_segments') }}
    union
    select distinct segment_id from history

),

grid as (

    select
        segments.segment_id,
        days.day,
        coalesce(entries.entered, 0) as entered,
        coalesce(exits.exited, 0) as exited
    from segments
    cross join days
    left join entries
        on segments.segment_id = entries.segment_id
        and days.day = entries.day
    left join exits
        on segments.segment_id = exits.segment_id
        and days.day = exits.day

)

select
    {{ kairos_surrogate_key(['segment_id', 'day']) }} as segment_day_id,
    segment_id,
    day,
    cast(entered as integer) as entered,
    cast(exited as integer) as exited,
    cast(sum(entered - exited) over (
        partition by segment_id order by day rows between unbounded preceding and current row
    ) as integer) as members
from grid
