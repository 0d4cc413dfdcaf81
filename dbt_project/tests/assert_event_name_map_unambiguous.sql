{#- Each spelling family in the event_name_map seed (names compared in
    lower case, letters and digits only) must map to one canonical name. -#}
select
    {{ kairos_event_name_key('raw_event_name') }} as event_name_key,
    count(distinct canonical_event_name) as canonical_names
from {{ ref('event_name_map') }}
group by 1
having count(distinct canonical_event_name) > 1
