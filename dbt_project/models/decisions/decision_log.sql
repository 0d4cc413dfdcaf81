{{ config(**kairos_customer_scoped()) }}

{#- The decision log: one row per candidate of the run that last decided its
    customer (customer-scoped: macros/decisions/decision_scope.sql), with the rule that
    stopped it or the intent it became. "Why did this customer not get this
    message?" is `select * from decisions.decision_log where customer_key =
    ... [and scenario_id = ...]` (or `kairos why CUSTOMER_KEY`).

    Rules, in order (the first that applies stops the candidate):
     1 dropped_earlier            the series lost an arbitration before and
                                  its scenario drops on conflict
     2 already_delivered          this intent was delivered already
     3 no_profile                 no customer profile (anonymous key)
     4 out_of_stock               the promoted product is out of stock
     5 margin_below_threshold /   a step whose incentive is required
       discount_history           (incentive_fallback: stop) cannot get it
     6 no_consent                 no allowed channel with consent (marketing)
     7 hard_bounce /              consent somewhere but no usable contact
       no_contact_point           point on any allowed channel
     8 suppressed_open_case       open complaint or return (marketing)
     9 suppressed_paid_campaign   in an active paid campaign with the same
                                  offer (marketing)
    10 global_control_group       the customer is in the global control group
    11 scenario_holdout           the customer is in the scenario's holdout
    12 cool_down_scenario         same scenario, other occurrence, too recent
    13 cool_down_global           a marketing message too recently (message
                                  channels; an audience channel may still go)
    14 frequency_cap_all_channels the cross-channel cap is reached
    15 frequency_cap_channel      every consented, reachable channel is capped
    16 arbitration_wait /         another scenario of higher priority wins
       arbitration_drop           the customer this run (marketing messages;
                                  max_marketing_intents_per_run per customer,
                                  one when min_hours_between_messages > 0,
                                  and no more than the room left under the
                                  caps per channel and across channels;
                                  ties: the more recent trigger, then the
                                  scenario id); wait tries again next run,
                                  drop gives the series up
    Transactional scenarios skip 6 and 8-16 (they still need a reachable
    contact point). The channel is the customer's preferred channel when the
    scenario allows it and it can be used, else the next in the scenario's
    list that can (fallback); quiet hours defer, they never stop.
    holdout_group records the assignment of every marketing candidate that
    reached the holdout rule (10-11): global_control, scenario_holdout or
    treatment. -#}
{%- set guards = kairos_scenarios()['guards'] -%}
{%- set max_per_run = guards['max_marketing_intents_per_run'] | int -%}
{%- set control_limit = (guards['global_control_share'] * 10000) | round | int -%}

with

guards as (

    select
        *,
        channel_status = 'ok'
            and (
                not is_message
                or is_transactional
                or (channel_cap_reached is null and all_cap_reached is null and not in_global_cool_down)
            ) as is_sendable
    from {{ ref('decision_guards') }}
    where {{ kairos_in_decision_scope('customer_key') }}

),

channel_summaries as (

    select
        candidate_id,
        max(case when channel_status not in ('no_consent', 'no_profile') then 1 else 0 end) as has_consent,
        max(case when channel_status = 'ok' then 1 else 0 end) as has_ok_channel,
        max(case when channel_status = 'hard_bounce' then 1 else 0 end) as has_hard_bounce,
        max(case when channel_status = 'no_profile' then 1 else 0 end) as has_no_profile,
        max(case when is_preferred_channel then 1 else 0 end) as allows_preferred_channel,
        {{ dbt.listagg(
            dbt.concat(['channel', "': '", 'channel_status', "coalesce(' (cap ' || channel_cap_reached || ')', '')"]),
            "'; '",
            'order by channel_rank, channel'
        ) }} as channel_summary
    from guards
    group by 1

),

chosen as (

    select *
    from (
        select
            guards.*,
            row_number() over (
                partition by candidate_id
                order by
                    case when is_sendable then 0 when channel_status = 'ok' then 1 else 2 end,
                    channel_rank,
                    channel
            ) as choice_rank
        from guards
    ) as ranked
    where choice_rank = 1

),

ruled as (

    select
        chosen.*,
        summaries.channel_summary,
        summaries.allows_preferred_channel,
        case
            when chosen.dropped_at is not null then 'dropped_earlier'
            when chosen.delivered_at is not null then 'already_delivered'
            when summaries.has_no_profile = 1 then 'no_profile'
            when chosen.is_out_of_stock then 'out_of_stock'
            when chosen.incentive_blocked_by is not null and chosen.incentive_fallback = 'stop' then chosen.incentive_blocked_by
            when summaries.has_consent = 0 then 'no_consent'
            when summaries.has_ok_channel = 0 then
                case when summaries.has_hard_bounce = 1 then 'hard_bounce' else 'no_contact_point' end
            when chosen.is_transactional then null
            when chosen.open_case is not null then 'suppressed_open_case'
            when chosen.paid_campaign is not null then 'suppressed_paid_campaign'
            when chosen.is_global_control then 'global_control_group'
            when chosen.is_scenario_holdout then 'scenario_holdout'
            when chosen.in_scenario_cool_down then 'cool_down_scenario'
            when not chosen.is_sendable then
                case
                    when chosen.in_global_cool_down then 'cool_down_global'
                    when chosen.all_cap_reached is not null then 'frequency_cap_all_channels'
                    else 'frequency_cap_channel'
                end
        end as rule_stop
    from chosen
    inner join channel_summaries as summaries
        on chosen.candidate_id = summaries.candidate_id

),

competing as (

    select
        ruled.*,
        (rule_stop is null and not is_transactional and is_message) as competes
    from ruled

),

arbitrated as (

    select
        competing.*,
        row_number() over (
            partition by customer_key, competes
            order by priority desc, triggered_at desc, scenario_id, trigger_ref
        ) as arbitration_rank,
        row_number() over (
            partition by customer_key, competes, channel
            order by priority desc, triggered_at desc, scenario_id, trigger_ref
        ) as channel_arbitration_rank,
        first_value(scenario_id) over (
            partition by customer_key, competes
            order by priority desc, triggered_at desc, scenario_id, trigger_ref
        ) as winner_scenario_id,
        first_value(priority) over (
            partition by customer_key, competes
            order by priority desc, triggered_at desc, scenario_id, trigger_ref
        ) as winner_priority
    from competing

),

decided as (

    select
        arbitrated.*,
        coalesce(
            rule_stop,
            case
                when competes and (
                    arbitration_rank > {{ max_per_run }}
                    {%- if guards['min_hours_between_messages'] > 0 %}
                    -- messages of one run go out together: with a minimum gap, one per run
                    or arbitration_rank > 1
                    {%- endif %}
                    or arbitration_rank > coalesce(all_room, arbitration_rank)
                    or channel_arbitration_rank > coalesce(channel_room, channel_arbitration_rank)
                ) then
                    case when on_conflict = 'drop' then 'arbitration_drop' else 'arbitration_wait' end
            end
        ) as stopped_by
    from arbitrated

),

final as (

    select
        -- ids
        candidate_id,
        customer_key,
        scenario_id,
        step,
        trigger_ref,
        series_id,

        -- decision
        channel,
        case when stopped_by is null then 'intent' else 'stopped' end as outcome,
        stopped_by,
        case stopped_by
            when 'dropped_earlier' then {{ dbt.concat(["'series dropped by arbitration at '", kairos_as_text('dropped_at')]) }}
            when 'already_delivered' then {{ dbt.concat(["'this intent was delivered at '", kairos_as_text('delivered_at')]) }}
            when 'no_profile' then 'no customer profile for this key'
            when 'out_of_stock' then {{ dbt.concat(["'product '", kairos_as_text('product_id'), "' is out of stock'"]) }}
            when 'margin_below_threshold' then {{ dbt.concat(["'incentive needs a margin rate of " ~ guards['incentive_min_margin_rate'] ~ ", margin rate '", kairos_as_text('incentive_margin_rate')]) }}
            when 'discount_history' then {{ dbt.concat(["'discounted order share '", kairos_as_text('discounted_order_share'), "' >= " ~ guards['incentive_max_discounted_order_share'] ~ "'"]) }}
            when 'suppressed_open_case' then open_case
            when 'suppressed_paid_campaign' then {{ dbt.concat(["'in the audience of paid campaign '", kairos_as_text('paid_campaign')]) }}
            when 'global_control_group' then {{ dbt.concat(["'global bucket '", kairos_as_text('global_bucket'), "' < " ~ control_limit ~ "'"]) }}
            when 'scenario_holdout' then {{ dbt.concat(["'scenario bucket '", kairos_as_text('scenario_bucket'), "' < '", kairos_as_text('cast(round(holdout_share * 10000) as integer)')]) }}
            when 'cool_down_scenario' then {{ dbt.concat(["'last message of this scenario at '", kairos_as_text('last_scenario_sent_at'), "', cool-down '", kairos_as_text('cool_down_hours'), "' h'"]) }}
            when 'cool_down_global' then {{ dbt.concat(["'last marketing message at '", kairos_as_text('last_marketing_sent_at'), "', minimum gap " ~ guards['min_hours_between_messages'] ~ " h'"]) }}
            when 'frequency_cap_all_channels' then {{ dbt.concat([kairos_as_text('all_cap_reached'), "' | '", 'channel_summary']) }}
            when 'arbitration_wait' then {{ dbt.concat(["'lost to '", 'winner_scenario_id', "' (priority '", kairos_as_text('winner_priority'), "'); waits for the next run'"]) }}
            when 'arbitration_drop' then {{ dbt.concat(["'lost to '", 'winner_scenario_id', "' (priority '", kairos_as_text('winner_priority'), "'); dropped'"]) }}
            when 'no_consent' then channel_summary
            when 'no_contact_point' then channel_summary
            when 'hard_bounce' then channel_summary
            when 'frequency_cap_channel' then channel_summary
            else {{ dbt.concat([
                "'via '", 'channel',
                "case when is_preferred_channel then ' (preferred)' when allows_preferred_channel = 1 then ' (fallback from ' || preferred_channel || ')' else '' end",
                "', due '", kairos_as_text('due_at'), "' UTC'",
                "case when is_deferred_by_quiet_hours then ' (after quiet hours)' else '' end",
                "case when incentive_pct > 0 and incentive_blocked_by is not null then '; incentive withheld: ' || incentive_blocked_by when incentive_pct > 0 then '; incentive ' || cast(incentive_pct as " ~ dbt.type_string() ~ ") || '%' else '' end"
            ]) }}
        end as details,
        case when stopped_by is null then candidate_id end as intent_id,
        channel_summary as channels_considered,

        -- scenario
        priority,
        on_conflict,
        is_transactional,

        -- holdout assignment of marketing candidates that reached the holdout rule
        case
            when not is_transactional
                and (
                    rule_stop is null
                    or rule_stop in (
                        'global_control_group', 'scenario_holdout', 'cool_down_scenario', 'cool_down_global',
                        'frequency_cap_all_channels', 'frequency_cap_channel'
                    )
                )
                then case
                    when is_global_control then 'global_control'
                    when is_scenario_holdout then 'scenario_holdout'
                    else 'treatment'
                end
        end as holdout_group,
        global_bucket,
        scenario_bucket,
        holdout_share,

        -- timestamps
        case when stopped_by is null then due_at end as due_at,
        triggered_at,
        decided_at

    from decided

)

select * from final
