with

source as (

    select * from {{ ref('base_crm__customers') }}
    where reject_reason is null
        and not is_superseded

),

renamed as (

    select
        -- ids
        clean_customer_id as customer_id,

        -- strings
        email_normalised as email,
        phone_e164 as phone,
        clean_first_name as first_name,
        clean_last_name as last_name,
        clean_city as city,
        clean_country_code as country_code,
        clean_time_zone as time_zone,
        clean_acquisition_source as acquisition_source,

        -- dates
        valid_birth_date as birthday,

        -- booleans
        has_invalid_birthday,

        -- timestamps
        registered_at_ts as registered_at,
        updated_at_ts as updated_at

    from source

)

select * from renamed
