{{ config(**kairos_customer_scoped()) }}

{#- Every guard evaluated for every candidate and every channel its
    scenario allows, as of kairos_now(): one row per candidate and channel.
    Nothing is decided here (decision_log applies the rules in order); this
    model only states the facts each rule needs, so one row answers "what
    did the decision layer know?".

    Per candidate (the same on all its channel rows):
    - dropped_at: the series lost an arbitration earlier and its scenario
      drops on conflict (memory: decision_dropped_series, read directly so
      the graph stays acyclic; var kairos__use_decision_memory);
    - delivered_at: this very intent (candidate_id = intent_id) is in the
      delivered contact history already;
    - is_out_of_stock: the promoted product is not in stock now (unknown
      products count as out of stock);
    - incentive_blocked_by: a step with an incentive whose margin (the
      trigger's, else the product's) is below incentive_min_margin_rate, or
      whose customer bought at least incentive_max_discounted_order_share of
      orders on discount;
    - open_case / paid_campaign: active suppressions;
    - global_bucket / scenario_bucket: stable hash buckets 0..9999 of the
      customer (global control group) and of scenario + customer (holdout);
    - last_scenario_sent_at: latest delivery of the same scenario for
      another occurrence (the series' own steps are not counted), and
      last_marketing_sent_at: latest marketing message, for the cool-downs;
    - all_cap_reached: the cross-channel cap reached (marketing messages in
      the customer's local calendar day and rolling windows), and all_room:
      how many more marketing messages the cross-channel caps allow now.
    Per channel:
    - contact_address and channel_status: ok, no_consent (marketing needs
      consent on the channel; transactional messages and sales alerts do
      not), no_contact_point, hard_bounce, no_profile;
    - channel_rank: 1 for the customer's preferred channel when the
      scenario allows it, then the scenario's list order;
    - channel_cap_reached: the channel's cap reached, and channel_room: how
      many more marketing messages the channel's caps allow now (null: no
      cap);
    - due_at: the just-in-time send time. The step's due time (or now if
      later), moved to the customer's usual active hour when the scenario
      sends at the active hour, then out of the quiet hours (local time;
      deferred to their end, never dropped) on message channels.
    Customer-scoped (macros/decisions/decision_scope.sql): a micro-batch
    rewrites the rows of the customers in decision_scope only. -#}
{%- set guards = kairos_scenarios()['guards'] -%}
{%- set caps = guards['caps'] -%}
{%- set quiet_start = kairos_minutes_of(guards['quiet_hours']['start']) -%}
{%- set quiet_end = kairos_minutes_of(guards['quiet_hours']['end']) -%}
{%- set min_gap_minutes = (guards['min_hours_between_messages'] * 60) | round | int -%}
{%- set control_limit = (guards['global_control_share'] * 10000) | round | int -%}
{%- set salt = guards['holdout_salt'] | replace("'", "''") -%}
{%- set default_tz = guards['default_time_zone'] -%}
{%- set windows = [] -%}
{%- for name, cap in caps.items() -%}
    {%- for w in cap.get('rolling', []) if w['hours'] not in windows -%}{%- do windows.append(w['hours']) -%}{%- endfor -%}
{%- endfor -%}
{%- set message_channels = ['email', 'sms', 'push'] -%}
{%- set dropped = none -%}
{%- if execute and var('kairos__use_decision_memory', true) -%}
    {%- set dropped = adapter.get_relation(database=this.database, schema=this.schema, identifier='decision_dropped_series') -%}
{%- endif -%}

with

candidates as (

    select * from {{ ref('decision_candidates') }}
    where {{ kairos_in_decision_scope('customer_key') }}

),

customers as (

    select * from {{ ref('decision_customer_context') }}
    where {{ kairos_in_decision_scope('customer_key') }}

),

deliveries as (

    select * from {{ ref('decision_contact_history') }}
    where sent_at <= {{ kairos_now() }}
        and {{ kairos_in_decision_scope('customer_key') }}

),

products as (

    select product_id, is_in_stock, margin_rate from {{ ref('dim_products') }}

),

suppressions as (

    select * from {{ ref('decision_suppressions') }}
    where active_from <= {{ kairos_now() }}
        and (active_until is null or active_until > {{ kairos_now() }})

),

channel_list as (

    select 'email' as channel, true as is_message
    union all select 'sms', true
    union all select 'push', true
    union all select 'ads', false
    union all select 'sales_alert', false

),

options as (

    select
        candidates.candidate_id,
        channel_list.channel,
        channel_list.is_message,
        {{ dbt.position(dbt.concat(["','", 'channel_list.channel', "','"]), dbt.concat(["','", 'candidates.channels', "','"])) }} as channel_position
    from candidates
    cross join channel_list
    where {{ dbt.position(dbt.concat(["','", 'channel_list.channel', "','"]), dbt.concat(["','", 'candidates.channels', "','"])) }} > 0

),

-- marketing messages delivered, counted per channel and over all channels
message_deliveries as (

    select deliveries.customer_key, deliveries.channel, deliveries.sent_at, customers.local_day_start_at
    from deliveries
    inner join customers
        on deliveries.customer_key = customers.customer_key
    where deliveries.is_marketing
        and deliveries.is_message

),

channel_counts as (

    select
        customer_key,
        channel,
        sum(case when sent_at >= local_day_start_at then 1 else 0 end) as sent_local_day,
        {%- for hours in windows %}
        sum(case when sent_at > {{ dbt.dateadd('hour', -hours, kairos_now()) }} then 1 else 0 end) as sent_last_{{ hours }}h,
        {%- endfor %}
        max(sent_at) as last_sent_at
    from message_deliveries
    group by 1, 2

),

all_counts as (

    select
        customer_key,
        sum(case when sent_at >= local_day_start_at then 1 else 0 end) as sent_local_day,
        {%- for hours in windows %}
        sum(case when sent_at > {{ dbt.dateadd('hour', -hours, kairos_now()) }} then 1 else 0 end) as sent_last_{{ hours }}h,
        {%- endfor %}
        max(sent_at) as last_sent_at
    from message_deliveries
    group by 1

),

scenario_last as (

    select
        candidates.candidate_id,
        max(deliveries.sent_at) as last_scenario_sent_at
    from candidates
    inner join deliveries
        on candidates.customer_key = deliveries.customer_key
        and candidates.scenario_id = deliveries.scenario_id
    where candidates.cool_down_hours > 0
        and (
            deliveries.record_key is null
            or {{ dbt.position('deliveries.record_key', 'candidates.series_intent_ids') }} = 0
        )
    group by 1

),

already_delivered as (

    select
        candidates.candidate_id,
        max(deliveries.sent_at) as delivered_at
    from candidates
    inner join deliveries
        on candidates.candidate_id = deliveries.record_key
        and candidates.customer_key = deliveries.customer_key
    group by 1

),

open_cases as (

    select customer_key, min(details) as open_case
    from suppressions
    where suppression = 'open_case'
    group by 1

),

paid as (

    select customer_key, scenario_id, min(reference) as paid_campaign
    from suppressions
    where suppression = 'paid_campaign'
    group by 1, 2

),

{% if dropped is not none %}
dropped as (

    select series_id, min(dropped_at) as dropped_at
    from {{ dropped }}
    where dropped_at <= {{ kairos_now() }}
    group by 1

),
{% endif %}

evaluated as (

    select
        candidates.*,
        customers.customer_key is not null as has_profile,
        coalesce(customers.time_zone, '{{ default_tz }}') as time_zone,
        customers.preferred_channel,
        customers.usual_active_hour,
        customers.discounted_order_share,
        {% if dropped is not none %}dropped.dropped_at{% else %}cast(null as {{ dbt.type_timestamp() }}){% endif %} as dropped_at,
        already_delivered.delivered_at,
        (candidates.product_id is not null and not coalesce(products.is_in_stock, false)) as is_out_of_stock,
        coalesce(candidates.margin_rate, products.margin_rate) as incentive_margin_rate,
        case
            when candidates.incentive_pct > 0 then
                case
                    when coalesce(candidates.margin_rate, products.margin_rate) is null
                        or coalesce(candidates.margin_rate, products.margin_rate) < {{ guards['incentive_min_margin_rate'] }}
                        then 'margin_below_threshold'
                    when customers.discounted_order_share >= {{ guards['incentive_max_discounted_order_share'] }}
                        then 'discount_history'
                end
        end as incentive_blocked_by,
        open_cases.open_case,
        paid.paid_campaign,
        {{ kairos_hash_bucket(["'" ~ salt ~ "'", "'global'", 'candidates.customer_key']) }} as global_bucket,
        {{ kairos_hash_bucket(["'" ~ salt ~ "'", 'candidates.scenario_id', 'candidates.customer_key']) }} as scenario_bucket,
        scenario_last.last_scenario_sent_at,
        all_counts.last_sent_at as last_marketing_sent_at,
        {%- set all_cap = caps.get('all_messages', {}) %}
        {%- set all_whens = [] %}
        {%- if 'per_local_day' in all_cap %}
            {%- do all_whens.append(("coalesce(all_counts.sent_local_day, 0) >= " ~ all_cap['per_local_day'],
                dbt.concat(["'all messages: '", "cast(coalesce(all_counts.sent_local_day, 0) as " ~ dbt.type_string() ~ ")", "' of " ~ all_cap['per_local_day'] ~ " per local day'"]))) %}
        {%- endif %}
        {%- for w in all_cap.get('rolling', []) %}
            {%- do all_whens.append(("coalesce(all_counts.sent_last_" ~ w['hours'] ~ "h, 0) >= " ~ w['max'],
                dbt.concat(["'all messages: '", "cast(coalesce(all_counts.sent_last_" ~ w['hours'] ~ "h, 0) as " ~ dbt.type_string() ~ ")", "' of " ~ w['max'] ~ " in " ~ w['hours'] ~ " h'"]))) %}
        {%- endfor %}
        {% if all_whens -%}
        case
            {%- for condition, message in all_whens %}
            when {{ condition }} then {{ message }}
            {%- endfor %}
        end
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as all_cap_reached,
        {%- set all_terms = [] -%}
            {%- if 'per_local_day' in all_cap -%}{%- do all_terms.append(all_cap['per_local_day'] ~ ' - coalesce(all_counts.sent_local_day, 0)') -%}{%- endif -%}
            {%- for w in all_cap.get('rolling', []) -%}{%- do all_terms.append(w['max'] ~ ' - coalesce(all_counts.sent_last_' ~ w['hours'] ~ 'h, 0)') -%}{%- endfor %}
        {% if all_terms %}least({{ all_terms | join(', ') }}){% else %}cast(null as integer){% endif %} as all_room,
        customers.email_hard_bounced,
        customers.email,
        customers.phone,
        customers.push_token,
        customers.sales_owner_email,
        customers.email_consent,
        customers.sms_consent,
        customers.push_consent,
        customers.ads_consent
    from candidates
    left join customers
        on candidates.customer_key = customers.customer_key
    left join products
        on candidates.product_id = products.product_id
    left join already_delivered
        on candidates.candidate_id = already_delivered.candidate_id
    left join scenario_last
        on candidates.candidate_id = scenario_last.candidate_id
    left join all_counts
        on candidates.customer_key = all_counts.customer_key
    left join open_cases
        on candidates.customer_key = open_cases.customer_key
    left join paid
        on candidates.customer_key = paid.customer_key
        and candidates.scenario_id = paid.scenario_id
    {% if dropped is not none -%}
    left join dropped
        on candidates.series_id = dropped.series_id
    {%- endif %}

),

flagged as (

    select
        evaluated.*,
        global_bucket < {{ control_limit }} as is_global_control,
        scenario_bucket < cast(round(holdout_share * 10000) as integer) as is_scenario_holdout,
        coalesce(
            cool_down_hours > 0
            and last_scenario_sent_at > {{ dbt.dateadd('hour', '-cool_down_hours', kairos_now()) }},
            false
        ) as in_scenario_cool_down,
        coalesce(last_marketing_sent_at > {{ dbt.dateadd('minute', -min_gap_minutes, kairos_now()) }}, false) as in_global_cool_down
    from evaluated

),

channel_rows as (

    select
        flagged.*,
        options.channel,
        options.is_message,
        row_number() over (
            partition by flagged.candidate_id
            order by case when options.channel = flagged.preferred_channel then 0 else 1 end, options.channel_position
        ) as channel_rank,
        case options.channel
            when 'email' then flagged.email
            when 'sms' then flagged.phone
            when 'push' then flagged.push_token
            when 'ads' then coalesce(flagged.email, flagged.phone)
            when 'sales_alert' then flagged.sales_owner_email
        end as contact_address,
        case options.channel
            when 'email' then flagged.email_consent
            when 'sms' then flagged.sms_consent
            when 'push' then flagged.push_consent
            when 'ads' then flagged.ads_consent
            else true
        end as channel_consent,
        {%- set cap_whens = [] %}
        {%- set room_whens = [] %}
        {%- for ch, cap in caps.items() if ch in message_channels %}
            {%- set terms = [] %}
            {%- if 'per_local_day' in cap %}
                {%- do cap_whens.append(("options.channel = '" ~ ch ~ "' and coalesce(channel_counts.sent_local_day, 0) >= " ~ cap['per_local_day'],
                    dbt.concat(["'" ~ ch ~ ": '", "cast(coalesce(channel_counts.sent_local_day, 0) as " ~ dbt.type_string() ~ ")", "' of " ~ cap['per_local_day'] ~ " per local day'"]))) %}
                {%- do terms.append(cap['per_local_day'] ~ ' - coalesce(channel_counts.sent_local_day, 0)') %}
            {%- endif %}
            {%- for w in cap.get('rolling', []) %}
                {%- do cap_whens.append(("options.channel = '" ~ ch ~ "' and coalesce(channel_counts.sent_last_" ~ w['hours'] ~ "h, 0) >= " ~ w['max'],
                    dbt.concat(["'" ~ ch ~ ": '", "cast(coalesce(channel_counts.sent_last_" ~ w['hours'] ~ "h, 0) as " ~ dbt.type_string() ~ ")", "' of " ~ w['max'] ~ " in " ~ w['hours'] ~ " h'"]))) %}
                {%- do terms.append(w['max'] ~ ' - coalesce(channel_counts.sent_last_' ~ w['hours'] ~ 'h, 0)') %}
            {%- endfor %}
            {%- if terms %}{%- do room_whens.append((ch, 'least(' ~ (terms | join(', ')) ~ ')')) %}{%- endif %}
        {%- endfor %}
        {% if cap_whens -%}
        case
            when options.is_message and not flagged.is_transactional then
                case
                    {%- for condition, message in cap_whens %}
                    when {{ condition }} then {{ message }}
                    {%- endfor %}
                end
        end
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as channel_cap_reached,
        {% if room_whens -%}
        case
            when options.is_message and not flagged.is_transactional then
                case options.channel
                    {%- for ch, room in room_whens %}
                    when '{{ ch }}' then {{ room }}
                    {%- endfor %}
                end
        end
        {%- else -%}
        cast(null as integer)
        {%- endif %} as channel_room
    from flagged
    inner join options
        on flagged.candidate_id = options.candidate_id
    left join channel_counts
        on flagged.customer_key = channel_counts.customer_key
        and options.channel = channel_counts.channel

),

statused as (

    select
        channel_rows.*,
        case
            when not has_profile then 'no_profile'
            when channel <> 'sales_alert' and not is_transactional and not coalesce(channel_consent, false) then 'no_consent'
            when contact_address is null then 'no_contact_point'
            when channel = 'email' and coalesce(email_hard_bounced, false) then 'hard_bounce'
            else 'ok'
        end as channel_status,
        greatest(step_due_at, {{ kairos_now() }}) as base_at
    from channel_rows

),

localised as (

    select
        statused.*,
        {{ kairos_utc_to_local('base_at', 'time_zone') }} as base_local
    from statused

),

wanted as (

    select
        localised.*,
        case
            when send_time = 'active_hour' and usual_active_hour is not null then
                case
                    when extract(hour from base_local) = usual_active_hour then base_local
                    when {{ dbt.dateadd('hour', 'usual_active_hour', kairos_local_midnight('base_local')) }} > base_local
                        then {{ dbt.dateadd('hour', 'usual_active_hour', kairos_local_midnight('base_local')) }}
                    else {{ dbt.dateadd('hour', 'usual_active_hour + 24', kairos_local_midnight('base_local')) }}
                end
            else base_local
        end as wanted_local
    from localised

),

deferred as (

    select
        wanted.*,
        case
            when is_message then {{ kairos_defer_quiet_hours('wanted_local', quiet_start, quiet_end) }}
            else wanted_local
        end as due_local,
        coalesce(is_message and {{ kairos_in_quiet_hours('wanted_local', quiet_start, quiet_end) }}, false) as is_deferred_by_quiet_hours
    from wanted

),

final as (

    select
        -- ids
        {{ kairos_surrogate_key(['candidate_id', 'channel']) }} as guard_id,
        candidate_id,
        series_id,
        customer_key,
        scenario_id,
        step,
        trigger_ref,
        product_id,
        cart_id,

        -- scenario
        priority,
        on_conflict,
        is_transactional,
        send_time,
        cool_down_hours,
        holdout_share,
        incentive_pct,
        incentive_fallback,
        payload,

        -- channel
        channel,
        is_message,
        cast(channel_rank as integer) as channel_rank,
        coalesce(channel = preferred_channel, false) as is_preferred_channel,
        preferred_channel,
        contact_address,
        channel_status,
        channel_cap_reached,
        all_cap_reached,
        cast(channel_room as integer) as channel_room,
        cast(all_room as integer) as all_room,

        -- candidate guards
        has_profile,
        dropped_at,
        delivered_at,
        is_out_of_stock,
        cast(incentive_margin_rate as numeric(18, 4)) as incentive_margin_rate,
        discounted_order_share,
        incentive_blocked_by,
        open_case,
        paid_campaign,
        cast(global_bucket as integer) as global_bucket,
        cast(scenario_bucket as integer) as scenario_bucket,
        is_global_control,
        is_scenario_holdout,
        last_scenario_sent_at,
        in_scenario_cool_down,
        last_marketing_sent_at,
        in_global_cool_down,

        -- timing
        time_zone,
        usual_active_hour,
        is_deferred_by_quiet_hours,
        due_local,
        case
            when due_local = base_local then base_at
            else {{ kairos_local_to_utc('due_local', 'time_zone') }}
        end as due_at,
        triggered_at,
        step_due_at,
        decided_at

    from deferred

)

select * from final
