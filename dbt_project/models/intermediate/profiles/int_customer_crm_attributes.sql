{{ config(post_hook="{{ kairos_analyze() }}") }}

{#- CRM attributes per person (customer_key): the row of the person's anchor
    customer (the smallest customer id of the component that the CRM knows;
    a person with a forgotten second account keeps the older record's
    attributes), plus how many CRM accounts the person has. -#}
with

identities as (

    select identifier_value as customer_id, customer_key, anchor_customer_id
    from {{ ref('int_identities_stitched') }}
    where identifier_type = 'customer_id'
        and customer_key is not null

),

ranked as (

    select
        identities.customer_key,
        customers.*,
        row_number() over (
            partition by identities.customer_key
            order by
                case when customers.customer_id = identities.anchor_customer_id then 0 else 1 end,
                {{ kairos_binary_collate('customers.customer_id') }}
        ) as profile_rank,
        count(*) over (partition by identities.customer_key) as crm_accounts
    from {{ ref('stg_crm__customers') }} as customers
    inner join identities
        on customers.customer_id = identities.customer_id

)

select
    customer_key,
    customer_id,
    email,
    phone,
    first_name,
    last_name,
    city,
    country_code,
    time_zone,
    acquisition_source,
    birthday,
    has_invalid_birthday,
    registered_at,
    updated_at,
    crm_accounts
from ranked
where profile_rank = 1
