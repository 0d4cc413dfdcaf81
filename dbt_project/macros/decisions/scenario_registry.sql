{#- ===========================================================================
    THE SCENARIO REGISTRY: every marketing scenario and the guard settings.

    This is the one file an analytics engineer edits to add, tune or switch
    off a scenario. It is YAML; the two Jinja lines around it only let dbt
    read it while it parses the project (dbt cannot open other files, and the
    decision models generate a ref() per scenario from it).

    Checked twice, with the same messages:
    - by dbt on every parse/compile (macro kairos_scenarios(): a bad entry
      stops `dbt parse`/`dbt build` with "Scenario registry: ..." errors);
    - by Python: `python -m kairos.scenarios` (and tests/test_scenarios.py).

    Format (see kairos/scenarios.py for the full rules):
      guards:                  decision-layer settings (quiet hours, caps, ...)
      scenarios:               a list; per entry
        id                     snake_case, unique; the trigger model is trg_<id>
        description            what and why, one or two sentences
        level                  1, 2 or 3 (the domain brief's automation level)
        trigger_kind           event | time_rule | value_threshold | attribute_change
        channels               allowed channels, in the scenario's order of
                               preference: email, sms, push, ads, sales_alert
        priority               1..100; when scenarios compete for one
                               customer the highest wins
        on_conflict            wait (try again next run) | drop (the series is
                               not tried again)
        cool_down_hours        no message of this scenario (another trigger)
                               within this many hours of the last one delivered
        holdout_share          0 <= share < 1 of the audience kept as control
        transactional          true: no marketing consent, caps, cool-downs,
                               holdouts or arbitration (still a reachable
                               contact point, quiet hours on messages)
        send_time              immediate | active_hour (the customer's usual
                               active hour, where known)
        steps                  list of {step, after_hours[, incentive_pct,
                               incentive_fallback]}: step n is due after_hours
                               after the trigger's triggered_at; incentives
                               only where margin and discount history allow,
                               else send_without (default) or stop
        payload                field: type (string | number | string_list),
                               columns of the trigger model sent along
        params                 free settings the trigger model reads with
                               kairos_scenario_param(id, name)
        history_campaigns      campaign-id prefixes in the ESP's contact
                               history that count as this scenario
        enabled                false switches the scenario off (default true)

    Trigger models (trg_<id>) return one row per trigger occurrence with
    customer_key, trigger_ref (the occurrence: cart, order, product+date ...),
    triggered_at (UTC anchor of the steps), product_id (promoted product or
    null: stock is checked at decision time), margin_rate (for incentives;
    null = the product's) and the payload columns.

    Guard settings can be overridden per run with the var kairos__guards
    (a mapping; each top-level key replaces the registry's), e.g. in tests.
    =========================================================================== -#}
{% macro kairos_scenario_registry_yaml() %}
version: 1

guards:
  # customers without a (known) time zone
  default_time_zone: Europe/Berlin
  # local time; a message falling inside is deferred to the end, never dropped
  quiet_hours: {start: "21:00", end: "08:00"}
  # cool-down between any two marketing messages to one customer
  min_hours_between_messages: 4
  # marketing messages (email/sms/push) decided per customer per run
  max_marketing_intents_per_run: 1
  # global control group: never receives marketing (hash of the customer)
  global_control_share: 0.05
  holdout_salt: kairos-v1
  # incentives only above this margin rate of the promoted product/cart ...
  incentive_min_margin_rate: 0.30
  # ... and not for customers who already bought this share of orders on discount
  incentive_max_discounted_order_share: 0.5
  # frequency caps on marketing messages: per local calendar day and rolling windows
  caps:
    all_messages: {per_local_day: 2, rolling: [{hours: 168, max: 6}]}
    email: {per_local_day: 1, rolling: [{hours: 24, max: 1}, {hours: 168, max: 3}]}
    sms: {per_local_day: 1, rolling: [{hours: 168, max: 2}]}
    push: {per_local_day: 2, rolling: [{hours: 168, max: 4}]}

scenarios:

  # ---------------------------------------------------------------- level 1
  - id: welcome_series
    description: Three-step welcome after registration (hello, how the shop works, best sellers).
    level: 1
    trigger_kind: event
    channels: [email, push]
    priority: 78
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 1}
      - {step: 2, after_hours: 48}
      - {step: 3, after_hours: 120}
    payload: {acquisition_source: string, registered_at: string}
    params: {max_age_days: 7}
    history_campaigns: [welcome_]

  - id: abandoned_cart
    description: Escalating cart reminders; facts first, an incentive only at the last step where margin and discount history allow.
    level: 1
    trigger_kind: event
    channels: [email, push, sms]
    priority: 80
    on_conflict: wait
    cool_down_hours: 72
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
      - {step: 2, after_hours: 23}
      - {step: 3, after_hours: 47, incentive_pct: 10, incentive_fallback: send_without}
    payload: {cart_id: string, cart_value: number, item_count: number, product_ids: string_list}
    history_campaigns: [abandoned_cart_]

  - id: abandoned_browse
    description: Gentle reminder of a product viewed repeatedly but not carted or bought.
    level: 1
    trigger_kind: event
    channels: [email, push]
    priority: 55
    on_conflict: wait
    cool_down_hours: 72
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {product_id: string, product_name: string, view_count: number, price: number}
    params: {lookback_hours: 48, idle_hours: 4, min_views: 2}

  - id: abandoned_category
    description: Reminder of a category browsed across several products without a cart or purchase in it.
    level: 1
    trigger_kind: event
    channels: [email, push]
    priority: 45
    on_conflict: wait
    cool_down_hours: 168
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {category: string, product_ids: string_list, view_count: number}
    params: {lookback_hours: 72, idle_hours: 6, min_views: 3, min_products: 2}

  - id: birthday
    description: Birthday greeting on the customer's local birthday (29 February on 28 February in other years).
    level: 1
    trigger_kind: time_rule
    channels: [email, sms, push]
    priority: 65
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {birthday: string}

  - id: registration_anniversary
    description: Thank-you on the local anniversary of the registration (one year and more).
    level: 1
    trigger_kind: time_rule
    channels: [email]
    priority: 33
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {years: number, registered_at: string}

  - id: review_request
    description: Review request some days after an order was delivered (not returned).
    level: 1
    trigger_kind: attribute_change
    channels: [email]
    priority: 40
    on_conflict: wait
    cool_down_hours: 168
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {order_id: string, product_ids: string_list, delivered_at: string}
    params: {after_days: 3, max_days: 14}

  - id: lookalike_seed
    description: Best customers (top revenue decile, repeat buyers) as a weekly seed audience for paid-media lookalikes.
    level: 1
    trigger_kind: value_threshold
    channels: [ads]
    priority: 20
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {revenue: number, orders_count: number, seed_week: string}
    params: {min_revenue_percentile: 0.9, min_orders: 3}

  # ---------------------------------------------------------------- level 2
  - id: post_purchase_thank_you
    description: Thank-you after a purchase with an upsell of a popular in-stock product of the order's main category.
    level: 2
    trigger_kind: event
    channels: [email]
    priority: 68
    on_conflict: wait
    cool_down_hours: 24
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 2}
    payload: {order_id: string, order_total: number, product_id: string, product_name: string}
    params: {max_age_hours: 48}

  - id: cross_sell
    description: Cross-sell of a complementary category in the weeks after a purchase, timed by the product's purchase cycle.
    level: 2
    trigger_kind: time_rule
    channels: [email, push]
    priority: 50
    on_conflict: wait
    cool_down_hours: 336
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {order_id: string, bought_product_id: string, product_id: string, product_name: string, category: string}
    # days after the purchase: half the product's replenishment cycle, else default_delay_days; within window_days
    params: {default_delay_days: 10, min_delay_days: 5, window_days: 14}

  - id: upsell
    description: Upsell to a higher variant (same brand and category, pricier, in stock) of a recent purchase.
    level: 2
    trigger_kind: time_rule
    channels: [email, push]
    priority: 48
    on_conflict: wait
    cool_down_hours: 336
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {bought_product_id: string, product_id: string, product_name: string, price: number}
    params: {after_days: 14, max_days: 45, min_price_ratio: 1.2, max_price_ratio: 3.0}

  - id: loyalty_points_expiring
    description: Loyalty points (1 per euro of kept orders, valid a year) about to expire.
    level: 2
    trigger_kind: time_rule
    channels: [email, push, sms]
    priority: 58
    on_conflict: wait
    cool_down_hours: 720
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {points_expiring: number, points_balance: number, expires_on: string}
    params: {validity_days: 365, notice_days: 30, min_points: 50}

  - id: back_in_stock
    description: Watchdog - a product the customer viewed, wishlisted or carted before it came back in stock.
    level: 2
    trigger_kind: attribute_change
    channels: [email, push, sms]
    priority: 75
    on_conflict: wait
    cool_down_hours: 72
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {product_id: string, product_name: string, price: number, restocked_at: string}
    params: {restock_days: 7, want_lookback_days: 21}

  - id: price_drop
    description: Price-drop alert for a product viewed, wishlisted or carted at a higher price.
    level: 2
    trigger_kind: value_threshold
    channels: [email, push]
    priority: 70
    on_conflict: wait
    cool_down_hours: 120
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {product_id: string, product_name: string, old_price: number, new_price: number, drop_pct: number}
    params: {recent_days: 5, seen_lookback_days: 14, min_drop_pct: 10}

  - id: post_purchase_care
    description: Usage instructions and care tips after delivery for products that need them.
    level: 2
    trigger_kind: attribute_change
    channels: [email]
    priority: 42
    on_conflict: wait
    cool_down_hours: 168
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 24}
    payload: {order_id: string, category: string, product_ids: string_list}
    params: {categories: [electronics, cosmetics, coffee, apparel], max_days: 7}

  - id: replenishment
    description: Replenishment reminder when a consumable's usual cycle (the customer's own, else the product's) runs out.
    level: 2
    trigger_kind: time_rule
    channels: [email, push, sms]
    priority: 72
    on_conflict: wait
    cool_down_hours: 168
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {product_id: string, product_name: string, cycle_days: number, last_ordered_at: string}
    params: {lead_days: 3, grace_days: 21}

  - id: subscription_renewal
    description: Renewal reminder for a category plan (seed subscription_plans) a week before the term ends.
    level: 2
    trigger_kind: time_rule
    channels: [email, sms]
    priority: 95
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0
    transactional: true
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {plan_id: string, plan_name: string, renews_on: string}
    params: {notice_days: 7}

  - id: consent_refresh
    description: Re-permission email to customers whose email consent is old and who no longer engage.
    level: 2
    trigger_kind: time_rule
    channels: [email]
    priority: 35
    on_conflict: wait
    cool_down_hours: 4320
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
    payload: {consent_granted_at: string, last_engaged_at: string}
    params: {min_consent_age_days: 540, engagement_lookback_days: 180}

  - id: event_reminder
    description: Invitation, reminder and follow-up for store events (seed store_events) to customers of the city with interest in the category.
    level: 2
    trigger_kind: time_rule
    channels: [email, sms, push]
    priority: 52
    on_conflict: wait
    cool_down_hours: 72
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
      - {step: 2, after_hours: 48}
      - {step: 3, after_hours: 96}
    payload: {event_id: string, event_title: string, store_id: string, starts_at: string}
    # step 1 is due 72 h before the event, step 3 (follow-up) 24 h after it starts
    params: {invite_hours_before: 72, interest_lookback_days: 180}

  # ---------------------------------------------------------------- level 3
  - id: win_back
    description: Win-back for customers who stopped buying (last order 120-365 days ago), an incentive in the second step.
    level: 3
    trigger_kind: time_rule
    channels: [email, push, ads]
    priority: 38
    on_conflict: wait
    cool_down_hours: 720
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0}
      - {step: 2, after_hours: 336, incentive_pct: 15, incentive_fallback: send_without}
    payload: {last_order_id: string, days_since_last_order: number, favourite_category: string}
    params: {min_days: 120, max_days: 365}
    history_campaigns: [winback_]

  - id: churn_risk_retention
    description: Retention offer when a repeat buyer's silence exceeds twice their usual gap between orders; no offer without margin.
    level: 3
    trigger_kind: value_threshold
    channels: [email, push]
    priority: 62
    on_conflict: wait
    cool_down_hours: 720
    holdout_share: 0.1
    send_time: active_hour
    steps:
      - {step: 1, after_hours: 0, incentive_pct: 10, incentive_fallback: stop}
    payload: {churn_score: number, days_since_last_order: number, usual_gap_days: number}
    params: {min_orders: 3, risk_factor: 2.0, max_days: 119}

  - id: realtime_upsell
    description: In-session upsell of a pricier variant of the product being viewed right now.
    level: 3
    trigger_kind: event
    channels: [push]
    priority: 85
    on_conflict: drop
    cool_down_hours: 24
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {session_id: string, viewed_product_id: string, product_id: string, product_name: string, price: number}
    params: {active_minutes: 30, min_price_ratio: 1.2, max_price_ratio: 3.0}

  - id: weather_offer
    description: Weather-triggered offer (rain gear when rain is forecast in the customer's city; seed weather_forecasts).
    level: 3
    trigger_kind: value_threshold
    channels: [push, sms]
    priority: 30
    on_conflict: drop
    cool_down_hours: 168
    holdout_share: 0.1
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {city: string, condition: string, forecast_date: string, category: string, product_id: string, product_name: string}
    params: {min_precipitation_mm: 2, interest_lookback_days: 365, condition_categories: {rain: outdoor, snow: apparel, heat: outdoor}}

  - id: b2b_account_activity
    description: Alert to the account's sales owner (seed b2b_accounts) when a business customer is active this week.
    level: 3
    trigger_kind: value_threshold
    channels: [sales_alert]
    priority: 90
    on_conflict: wait
    cool_down_hours: 0
    holdout_share: 0
    transactional: true
    send_time: immediate
    steps:
      - {step: 1, after_hours: 0}
    payload: {account_name: string, orders_7d: number, sessions_7d: number, revenue_7d: number}
    params: {min_orders: 1, min_sessions: 3}
{% endmacro %}
