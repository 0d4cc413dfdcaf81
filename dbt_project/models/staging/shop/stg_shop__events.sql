with

source as (

    select * from {{ ref('base_shop__events') }}
    where reject_reason is null

),

renamed as (

    select
        {{ shop_events_staged_columns() }}
    from source

)

select * from renamed
