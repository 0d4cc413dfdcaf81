{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- The staged events (stg_shop__events), materialised once per build.

    stg_shop__events is a view whose every read recomputes validation,
    de-duplication and name mapping over the whole raw click stream; the
    identity graph and fct_events read this table instead, so a build pays
    for the view once. -#}
select * from {{ ref('stg_shop__events') }}
