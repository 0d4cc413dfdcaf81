with

source as (

    select * from {{ ref('base_crm__consents') }}
    where reject_reason is null

),

renamed as (

    select
        -- ids
        clean_consent_id as consent_id,
        clean_customer_id as customer_id,

        -- strings
        clean_channel as channel,
        clean_status as status,
        clean_source as source,

        -- booleans
        clean_status = 'granted' as is_granted,

        -- timestamps
        recorded_at_ts as recorded_at

    from source

)

select * from renamed
