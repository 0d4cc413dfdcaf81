"""The unified profile (marts.dim_customers) against an independent computation.

Every attribute checked here is recomputed in pandas/Python from the raw
tables (``raw.*``) and the brief's rules, not from the models' SQL: orders,
revenue, margin, AOV, discount sensitivity, first/last seen, consent per
channel, lifecycle stage, RFM scores, purchase-intent signals and score, usual
active hour (with the IANA time-zone database), preferred channel from
engagement, top category. Raw identifiers are mapped to people through
``int_identities_stitched`` (identity itself is checked in test_identity.py
and by the oracle in test_dbt_models.py). Runs on the session's shared build,
on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from test_dbt_models import (
    END,
    TRANSACTIONAL_PREFIX,
    Build,
    clean,
    event_name_key,
    load_event_name_map,
    missing,
    norm_email,
    norm_order_phone,
    parse_ts,
    records,
    shared_build,
    ts,
)

pytestmark = pytest.mark.slow

# the project's defaults (dbt_project.yml), restated
LIFECYCLE = (30, 90, 365)
INTENT_WINDOW = timedelta(days=14)
INTENT_WEIGHTS = {
    "visits": 1.0, "product_views": 0.2, "return_policy_views": 2.0,
    "wishlist_adds": 1.5, "cart_adds": 1.0, "checkouts_started": 2.0,
}
INTENT_SCALE = 8
DISCOUNT_MIN_ORDERS = 2


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(request.param, tmp_path_factory, request.config)


@pytest.fixture(scope="module")
def profiles(built: Build) -> dict[str, dict]:
    frame = built.frame("select * from marts.dim_customers")
    return {row["customer_key"]: row for row in records(frame)}


@pytest.fixture(scope="module")
def expected(built: Build) -> dict[str, dict]:
    return compute_profiles(built)


def compute_profiles(build: Build) -> dict[str, dict]:
    """Expected profile attributes per customer_key, from the raw tables."""
    keys = build.frame(
        "select identifier_type, identifier_value, customer_key from intermediate.int_identities_stitched "
        "where customer_key is not null"
    )
    key_of = {(t, v): k for t, v, k in zip(keys["identifier_type"], keys["identifier_value"], keys["customer_key"])}

    def person(*identifiers):
        for identifier in identifiers:
            if identifier[1] is not None and identifier in key_of:
                return key_of[identifier]
        return None

    raw = {
        name: records(build.frame(f"select * from raw.{name}"))
        for name in ("events", "orders", "order_lines", "products", "crm_customers", "consents", "contact_history")
    }
    people: dict[str, dict] = defaultdict(lambda: defaultdict(list))

    # ---- CRM: latest row per customer id; the person's anchor = smallest customer id with a CRM row
    crm: dict[str, dict] = {}
    country: dict[str, str] = {}
    for row in raw["crm_customers"]:
        customer_id = clean(row["customer_id"])
        if customer_id is None:
            continue
        if clean(row["country_code"]):
            country[customer_id] = max(country.get(customer_id, clean(row["country_code"])), clean(row["country_code"]))
        if customer_id not in crm or ts(row["updated_at"]) > ts(crm[customer_id]["updated_at"]):
            crm[customer_id] = row
    anchor: dict[str, dict] = {}
    for customer_id in sorted(crm):
        key = person(("customer_id", customer_id))
        if key is not None and key not in anchor:
            anchor[key] = crm[customer_id]

    # ---- products: latest valid export -> unit cost, category
    products: dict[str, dict] = {}
    for row in raw["products"]:
        product_id = clean(row["product_id"])
        if product_id is None or missing(row["list_price"]) or float(row["list_price"]) < 0:
            continue
        if not missing(row["unit_cost"]) and float(row["unit_cost"]) < 0:
            continue
        if product_id not in products or ts(row["updated_at"]) > ts(products[product_id]["updated_at"]):
            products[product_id] = row

    # ---- order lines: valid, first copy of an (order, line number)
    lines: dict[str, list] = defaultdict(list)
    seen_lines = set()
    for row in raw["order_lines"]:
        order_id, product_id = clean(row["order_id"]), clean(row["product_id"])
        if order_id is None or missing(row["line_number"]) or product_id is None:
            continue
        if missing(row["quantity"]) or int(row["quantity"]) <= 0 or missing(row["unit_price"]) or float(row["unit_price"]) < 0:
            continue
        if (order_id, int(row["line_number"])) in seen_lines:
            continue
        seen_lines.add((order_id, int(row["line_number"])))
        lines[order_id].append((product_id, int(row["quantity"])))

    # ---- orders: latest valid status row per order
    latest_orders: dict[str, dict] = {}
    for row in raw["orders"]:
        order_id = clean(row["order_id"])
        status = (clean(row["status"]) or "").lower()
        if order_id is None or missing(row["order_total"]) or float(row["order_total"]) < 0:
            continue
        if status not in ("placed", "shipped", "delivered", "cancelled", "returned") or missing(row["ordered_at"]):
            continue
        if order_id not in latest_orders or ts(row["updated_at"]) > ts(latest_orders[order_id]["updated_at"]):
            latest_orders[order_id] = row
    for order_id, row in latest_orders.items():
        email = norm_email(row["email"])
        customer_id = clean(row["customer_id"])
        phone = norm_order_phone(row["phone"], country.get(customer_id or ""), email)
        key = person(("customer_id", customer_id), ("email", email), ("phone", phone))
        ordered_at = ts(row["ordered_at"])
        if key is None or ordered_at > END:
            continue
        status = clean(row["status"]).lower()
        total = float(row["order_total"])
        costs = [products[p]["unit_cost"] if p in products else None for p, _ in lines[order_id]]
        # no lines, or a product without a cost: the margin is unknown
        known = lines[order_id] and not any(missing(c) for c in costs)
        cost = sum(float(c) * q for c, (_, q) in zip(costs, lines[order_id])) if known else None
        people[key]["orders"].append(
            {
                "status": status,
                "total": total,
                "discount": 0.0 if missing(row["discount_total"]) else float(row["discount_total"]),
                "margin": None if cost is None else total - cost,
                "ordered_at": ordered_at,
                "lines": lines[order_id],
            }
        )

    # ---- events: valid, first copy received
    names = load_event_name_map()
    first_copy: dict[str, dict] = {}
    for row in raw["events"]:
        event_id, event_at = clean(row["event_id"]), parse_ts(row["event_ts"])
        name = names.get(event_name_key(row["event_name"]))
        if event_id is None or event_at is None or name is None:
            continue
        if clean(row["anonymous_id"]) is None and clean(row["customer_id"]) is None:
            continue
        received = ts(row["received_at"])
        if event_id in first_copy and first_copy[event_id]["received_at"] <= received:
            continue
        first_copy[event_id] = dict(row, name=name, event_at=event_at, received_at=received)
    for e in first_copy.values():
        key = person(
            ("customer_id", clean(e["customer_id"])),
            ("anonymous_id", clean(e["anonymous_id"])),
            ("email", norm_email(e["email"])),
        )
        if key is not None and e["event_at"] <= END:
            people[key]["events"].append(e)

    # ---- consent timeline per person and channel (log + channel opt-outs), as of END
    timeline = defaultdict(list)
    seen_consents = set()
    for row in raw["consents"]:
        consent_id, customer_id = clean(row["consent_id"]), clean(row["customer_id"])
        channel, status = (clean(row["channel"]) or "").lower(), (clean(row["status"]) or "").lower()
        if consent_id is None or customer_id is None or channel not in ("email", "sms", "push", "ads"):
            continue
        if status not in ("granted", "withdrawn") or missing(row["recorded_at"]) or consent_id in seen_consents:
            continue
        seen_consents.add(consent_id)
        key = person(("customer_id", customer_id))
        if key is not None and ts(row["recorded_at"]) <= END:
            timeline[(key, channel)].append((ts(row["recorded_at"]), status))
    engagement = defaultdict(lambda: defaultdict(lambda: {"sent": set(), "opened": set(), "clicked": set(), "last": None}))
    for row in raw["contact_history"]:
        customer_id, message_id = clean(row["customer_id"]), clean(row["message_id"])
        channel, kind = (clean(row["channel"]) or "").lower(), (clean(row["event_type"]) or "").lower()
        if customer_id is None or message_id is None or missing(row["occurred_at"]) or ts(row["occurred_at"]) > END:
            continue
        key = person(("customer_id", customer_id))
        if key is None or channel not in ("email", "sms", "push"):
            continue
        if kind in ("unsubscribed", "complained"):
            timeline[(key, channel)].append((ts(row["occurred_at"]), "withdrawn"))
        if (clean(row["campaign_id"]) or "").startswith(TRANSACTIONAL_PREFIX):
            continue
        stats = engagement[key][channel]
        if kind in ("sent", "opened", "clicked"):
            stats[kind].add(message_id)
        if kind in ("opened", "clicked"):
            stats["last"] = max(filter(None, [stats["last"], ts(row["occurred_at"])]))

    def consent(key, channel) -> bool:
        entries = timeline.get((key, channel))
        if not entries:
            return False
        latest = max(at for at, _ in entries)
        return all(status == "granted" for at, status in entries if at == latest)

    # ---- per person
    out: dict[str, dict] = {}
    for key in set(people) | set(anchor):
        orders = people[key]["orders"]
        events = people[key]["events"]
        placed = [o for o in orders if o["status"] != "cancelled"]
        paid = [o for o in orders if o["status"] not in ("cancelled", "returned")]
        crm_row = anchor.get(key)
        revenue = sum(o["total"] for o in paid)
        margins = [o["margin"] for o in paid if o["margin"] is not None]
        first_order = min((o["ordered_at"] for o in placed), default=None)
        last_order = max((o["ordered_at"] for o in placed), default=None)
        seen = [e["event_at"] for e in events] + [o["ordered_at"] for o in placed]
        registered = ts(crm_row["registered_at"]) if crm_row else None
        if registered is not None:
            seen.append(registered)

        recent = [e for e in events if e["event_at"] > END - INTENT_WINDOW]
        signals = {
            "visits": len({clean(e["session_id"]) for e in recent if clean(e["session_id"])}),
            "product_views": sum(e["name"] == "product_view" for e in recent),
            "return_policy_views": sum(e["name"] == "return_policy_view" for e in recent),
            "wishlist_adds": sum(e["name"] == "wishlist_add" for e in recent),
            "cart_adds": sum(e["name"] == "add_to_cart" for e in recent),
            "checkouts_started": sum(e["name"] == "checkout_started" for e in recent),
        }
        points = sum(INTENT_WEIGHTS[k] * v for k, v in signals.items())

        zone = clean(crm_row["time_zone"]) if crm_row else None
        hours = {e["event_at"].replace(minute=0, second=0, microsecond=0) for e in events}
        local = Counter(
            h.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone)).hour for h in hours
        ) if zone else Counter()
        usual_hour = min(local, key=lambda h: (-local[h], h)) if local else None

        channel_rates = {
            ch: ((len(s["opened"]) + len(s["clicked"]) + 1.0) / (2.0 * len(s["sent"]) + 2.0), s["last"])
            for ch, s in engagement[key].items()
            if len(s["opened"]) + len(s["clicked"]) > 0
        }
        engaged_channel = (
            min(channel_rates, key=lambda ch: (-channel_rates[ch][0], -channel_rates[ch][1].timestamp(), ch))
            if channel_rates else None
        )

        affinity: dict[str, list] = defaultdict(lambda: [0, 0])  # category -> [score, units]
        for o in paid:
            for product_id, quantity in o["lines"]:
                if product_id in products:
                    category = clean(products[product_id]["category"])
                    affinity[category][0] += 3 * quantity
                    affinity[category][1] += quantity
        for e in events:
            product_id = clean(e["product_id"])
            weight = {"product_view": 1, "add_to_cart": 2, "wishlist_add": 2}.get(e["name"])
            if weight and product_id in products:
                affinity[clean(products[product_id]["category"])][0] += weight
        ranked = sorted((c for c in affinity if affinity[c][0] > 0), key=lambda c: (-affinity[c][0], -affinity[c][1], c))

        out[key] = {
            "orders_count": len(placed),
            "revenue_orders_count": len(paid),
            "revenue": revenue,
            "margin": sum(margins),
            "average_order_value": round(revenue / len(placed), 2) if placed else None,
            "discount_sensitivity": (
                sum(o["discount"] > 0 for o in paid) / len(paid) if len(paid) >= DISCOUNT_MIN_ORDERS else None
            ),
            "first_order_at": first_order,
            "last_order_at": last_order,
            "days_since_first_order": (END.date() - first_order.date()).days if first_order else None,
            "days_since_last_order": (END.date() - last_order.date()).days if last_order else None,
            "first_seen_at": min(seen, default=None),
            "last_seen_at": max(seen, default=None),
            "email_consent": consent(key, "email"),
            "sms_consent": consent(key, "sms"),
            "push_consent": consent(key, "push"),
            "ads_consent": consent(key, "ads"),
            "recent_visits": signals["visits"],
            "recent_return_policy_views": signals["return_policy_views"],
            "recent_wishlist_adds": signals["wishlist_adds"],
            "purchase_intent_score": round(100 * (1 - math.exp(-points / INTENT_SCALE)), 1),
            "usual_active_hour": usual_hour,
            "engaged_channel": engaged_channel,
            "top_category": ranked[0] if ranked else None,
        }
    return out


def _lifecycle(p: dict) -> str:
    new, active, dormant = LIFECYCLE
    if p["orders_count"] == 0 or p["days_since_last_order"] is None:
        return "prospect"
    if p["days_since_first_order"] <= new:
        return "new"
    if p["days_since_last_order"] <= active:
        return "active"
    if p["days_since_last_order"] <= dormant:
        return "dormant"
    return "lost"


def _mismatches(profiles, expected, field, compare=lambda a, b: a == b) -> list:
    return [
        (key, profiles[key][field], expected[key][field])
        for key in profiles
        if key in expected and not compare(profiles[key][field], expected[key][field])
    ]


def _close(a, b, tolerance=0.011) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= tolerance


def _same_time(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs((ts(a) - ts(b)).total_seconds()) < 0.002


def test_every_person_with_orders_or_crm_record_has_a_profile(profiles: dict, expected: dict) -> None:
    with_history = {k for k, p in expected.items() if p["orders_count"] > 0}
    assert with_history and with_history <= set(profiles)


@pytest.mark.parametrize("field", ["orders_count", "revenue_orders_count"])
def test_order_counts(profiles: dict, expected: dict, field: str) -> None:
    assert not _mismatches(profiles, expected, field, lambda a, b: int(a) == int(b))


@pytest.mark.parametrize("field", ["revenue", "margin", "average_order_value"])
def test_revenue_margin_and_average_order_value(profiles: dict, expected: dict, field: str) -> None:
    assert not _mismatches(profiles, expected, field, _close)
    assert sum(1 for p in profiles.values() if p["margin"] and float(p["margin"]) != 0) > 10


def test_discount_sensitivity(profiles: dict, expected: dict) -> None:
    assert not _mismatches(profiles, expected, "discount_sensitivity", lambda a, b: _close(a, b, 1e-4))
    assert any(p["discount_sensitivity"] is not None for p in profiles.values())


@pytest.mark.parametrize("field", ["first_order_at", "last_order_at", "first_seen_at", "last_seen_at"])
def test_first_and_last_seen(profiles: dict, expected: dict, field: str) -> None:
    assert not _mismatches(profiles, expected, field, _same_time)


@pytest.mark.parametrize("channel", ["email", "sms", "push", "ads"])
def test_consent_per_channel_latest_wins_and_withdrawal_at_once(profiles: dict, expected: dict, channel: str) -> None:
    assert not _mismatches(profiles, expected, f"{channel}_consent", lambda a, b: bool(a) == bool(b))
    assert any(p[f"{channel}_consent"] for p in profiles.values())


def test_reachable_contact_points_need_consent_and_a_valid_address(profiles: dict) -> None:
    for p in profiles.values():
        assert not p["email_reachable"] or (p["email_consent"] and p["email"] and p["email_hard_bounced_at"] is None)
        assert not p["sms_reachable"] or (p["sms_consent"] and p["phone"] and p["phone"].startswith("+"))
        assert not p["push_reachable"] or (p["push_consent"] and p["push_token"])
        assert p["phone_e164"] == p["phone"]


def test_lifecycle_stage(profiles: dict, expected: dict) -> None:
    wrong = [(k, p["lifecycle_stage"], _lifecycle(expected[k])) for k, p in profiles.items()
             if k in expected and p["lifecycle_stage"] != _lifecycle(expected[k])]
    assert not wrong


def test_rfm_scores_are_quintiles_of_the_buyers(profiles: dict, expected: dict) -> None:
    buyers = [k for k in profiles if k in expected and expected[k]["orders_count"] > 0]
    n = len(buyers)

    def score(value, values, higher_is_better=True):
        at_or_below = sum(1 for v in values if (v <= value if higher_is_better else v >= value))
        # as the warehouse computes it: ceil(5 * cume_dist) in double precision
        return math.ceil(5 * (at_or_below / n))

    recency = [expected[k]["days_since_last_order"] for k in buyers]
    frequency = [expected[k]["orders_count"] for k in buyers]
    monetary = [round(expected[k]["revenue"], 2) for k in buyers]
    for k in buyers:
        e = expected[k]
        assert profiles[k]["rfm_recency_score"] == score(e["days_since_last_order"], recency, False), k
        assert profiles[k]["rfm_frequency_score"] == score(e["orders_count"], frequency), k
        assert profiles[k]["rfm_monetary_score"] == score(round(e["revenue"], 2), monetary), k
    assert all(p["rfm_segment"] is None for k, p in profiles.items() if p["orders_count"] == 0)


@pytest.mark.parametrize("field", ["recent_visits", "recent_return_policy_views", "recent_wishlist_adds"])
def test_purchase_intent_signals(profiles: dict, expected: dict, field: str) -> None:
    assert not _mismatches(profiles, expected, field, lambda a, b: int(a) == int(b))


def test_purchase_intent_score(profiles: dict, expected: dict) -> None:
    # one rounding step apart at most (the warehouse rounds numerics half away from zero)
    assert not _mismatches(profiles, expected, "purchase_intent_score", lambda a, b: _close(a, b, 0.1001))
    assert max(float(p["purchase_intent_score"]) for p in profiles.values()) > 30


def test_usual_active_hour_is_local(profiles: dict, expected: dict) -> None:
    assert not _mismatches(profiles, expected, "usual_active_hour")
    assert sum(p["usual_active_hour"] is not None for p in profiles.values()) > 20


def test_preferred_channel_follows_engagement(profiles: dict, expected: dict) -> None:
    engaged = {k: e["engaged_channel"] for k, e in expected.items() if e["engaged_channel"] and k in profiles}
    assert engaged
    wrong = [(k, profiles[k]["preferred_channel"], c) for k, c in engaged.items() if profiles[k]["preferred_channel"] != c]
    assert not wrong
    for k, p in profiles.items():
        if k not in engaged:
            reachable = [c for c in ("email", "push", "sms") if p[f"{c}_reachable"]]
            assert p["preferred_channel"] == (reachable[0] if reachable else None), k


def test_top_category(profiles: dict, expected: dict) -> None:
    assert not _mismatches(profiles, expected, "top_category")


def test_traits_say_why_they_are_missing(profiles: dict) -> None:
    # the shared build does not run the traits step: nothing scored, and the profile says so
    for p in profiles.values():
        if p["revenue_orders_count"] == 0:
            assert p["trait_status"] == "no_orders"
        else:
            assert p["trait_status"] in ("not_scored", "ok", "insufficient_data", "no_spend_model", "model_not_converged")
        if p["trait_status"] != "ok":
            assert p["probability_active"] is None and p["predicted_clv_12m"] is None


@pytest.fixture(scope="module")
def duck_built(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Build:
    return shared_build("duckdb", tmp_path_factory, pytestconfig)


def test_traits_step_writes_scores_the_profile_reads(duck_built: Build, tmp_path_factory: pytest.TempPathFactory) -> None:
    """kairos.traits on a copy of the DuckDB build: the shop is below the model's data
    minimums (300 repeat buyers), so every buyer reads insufficient_data; with the
    minimums lowered the traits are filled. The step is warehouse-agnostic (it reads
    and writes through Warehouse), so it runs on the DuckDB build only."""
    built = duck_built
    import shutil
    from dataclasses import replace

    from kairos.dbt import run_dbt
    from kairos.traits import score_traits

    from test_dbt_models import VARS

    tmp = tmp_path_factory.mktemp("traits")
    shutil.copy(built.settings.duckdb_path, tmp / "kairos.duckdb")
    settings = replace(built.settings, duckdb_path=tmp / "kairos.duckdb")
    copy = Build(settings, 0.0, set())

    summary = score_traits(settings, as_of=END.date())
    assert summary["fit"]["status"] == "insufficient_data" and "repeat buyers" in summary["fit"]["reason"]
    run_dbt(["run", "--select", "dim_customers"], settings, vars=VARS, target_path=tmp / "target")
    statuses = copy.frame("select trait_status, count(*) as n from marts.dim_customers group by 1")
    assert set(statuses["trait_status"]) <= {"insufficient_data", "no_orders", "not_scored"}
    assert "insufficient_data" in set(statuses["trait_status"])

    summary = score_traits(settings, as_of=END.date(), min_repeat_buyers=50, min_history_days=90)
    assert summary["fit"]["status"] in ("ok", "no_spend_model")
    run_dbt(["run", "--select", "dim_customers"], settings, vars=VARS, target_path=tmp / "target")
    scored = copy.frame(
        "select probability_active, expected_purchases_90d, churn_risk_band, trait_status "
        "from marts.dim_customers where trait_status in ('ok', 'no_spend_model')"
    )
    assert len(scored) > 50
    assert scored["probability_active"].between(0, 1).all()
    assert set(scored["churn_risk_band"]) <= {"low", "medium", "high"}
    fits = copy.scalar("select count(*) from traits.customer_clv_fits")
    assert fits == 2


def test_a_guest_who_ordered_with_only_a_phone_is_a_profile(duck_built: Build, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A guest checkout with a phone and no email or customer id is a person
    (fct_orders gives the order that phone's key), so the profile has a row
    for it: at 1M people the generator's data had 198 such buyers whose
    orders pointed at no profile."""
    import shutil
    from dataclasses import replace

    from kairos.dbt import run_dbt
    from kairos.warehouse import connect

    from test_dbt_models import VARS

    tmp = tmp_path_factory.mktemp("phone_only")
    shutil.copy(duck_built.settings.duckdb_path, tmp / "kairos.duckdb")
    settings = replace(duck_built.settings, duckdb_path=tmp / "kairos.duckdb")
    copy = Build(settings, 0.0, set())
    with connect(settings) as wh:
        wh.execute(
            "insert into raw.orders select * replace ("
            " 'phone_only_order_1' as order_id, null as customer_id, null as email,"
            " '+49 170 5550123' as phone, 'placed' as status) "
            "from raw.orders where order_id = (select min(order_id) from raw.orders)"
        )
    run_dbt(["run", "--select", "+dim_customers", "fct_orders", "--exclude", "resource_type:seed"], settings,
            vars=VARS, target_path=tmp / "target")
    key = copy.scalar("select customer_key from marts.fct_orders where order_id = 'phone_only_order_1'")
    assert key is not None
    profile = copy.frame(f"select phone, orders_count, customer_ids_count from marts.dim_customers where customer_key = '{key}'")
    assert len(profile) == 1
    assert profile["phone"].iloc[0] == "+491705550123" and profile["customer_ids_count"].iloc[0] == 0
    assert copy.scalar(
        "select count(*) from marts.fct_orders as o left join marts.dim_customers as d on o.customer_key = d.customer_key "
        "where o.customer_key is not null and d.customer_key is null"
    ) == 0
