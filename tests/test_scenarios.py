"""The scenario registry and the scenarios' triggers.

* The registry (dbt_project/macros/decisions/scenario_registry.sql) is valid,
  covers the domain brief's catalog, and every entry has its trigger model.
* Bad entries get clear errors, the same from Python (kairos.scenarios) and
  from dbt (macro kairos_scenarios(), which stops parse/compile).
* Scenario correctness against the generator's ground truth (tests may read
  the truth schema, models may not) for abandoned cart, back in stock,
  replenishment, win-back and birthday, on the shop built once for the
  session by tests/test_decisions.py.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from dataclasses import replace
from datetime import datetime, time as dtime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

from kairos.dbt import DbtError, run_dbt
from kairos.scenarios import (
    CHANNELS,
    REGISTRY_PATH,
    ScenarioRegistryError,
    build,
    load_registry,
    parse,
    registry_text,
    validate,
)
from kairos.settings import PROJECT_ROOT, load_settings

# the catalog of the domain brief, each item -> the scenario(s) covering it
CATALOG = {
    "welcome series": ["welcome_series"],
    "abandoned cart": ["abandoned_cart"],
    "abandoned browse": ["abandoned_browse"],
    "abandoned category": ["abandoned_category"],
    "birthday": ["birthday"],
    "registration anniversary": ["registration_anniversary"],
    "review request": ["review_request"],
    "lookalike seed": ["lookalike_seed"],
    "thank-you with upsell": ["post_purchase_thank_you"],
    "cross-sell by purchase cycle": ["cross_sell"],
    "upsell": ["upsell"],
    "loyalty points expiring": ["loyalty_points_expiring"],
    "back in stock": ["back_in_stock"],
    "price drop": ["price_drop"],
    "post-purchase care": ["post_purchase_care"],
    "replenishment": ["replenishment"],
    "subscription renewal and consent refresh": ["subscription_renewal", "consent_refresh"],
    "event reminder": ["event_reminder"],
    "win-back": ["win_back"],
    "churn-risk retention": ["churn_risk_retention"],
    "real-time upsell": ["realtime_upsell"],
    "weather": ["weather_offer"],
    "b2b account activity": ["b2b_account_activity"],
}


@pytest.fixture(scope="module")
def built():
    """The session's generated shop with triggers and decisions built (tests/test_decisions.py)."""
    from test_decisions import decision_build

    return decision_build()


# --------------------------------------------------------------------------- the registry


def test_the_registry_is_valid_and_covers_the_catalog() -> None:
    registry = load_registry()
    ids = [sc.id for sc in registry.scenarios]
    assert len(ids) == len(set(ids)) >= 20
    for item, scenarios in CATALOG.items():
        assert set(scenarios) <= set(ids), item
    models = PROJECT_ROOT / "dbt_project" / "models" / "triggers"
    for sc in registry.scenarios:
        assert (models / f"{sc.model}.sql").exists(), sc.model
        assert set(sc.channels) <= set(CHANNELS)
        if sc.transactional:
            assert sc.holdout_share == 0
    cart = registry.scenario("abandoned_cart")
    assert [s.step for s in cart.steps] == [1, 2, 3]
    assert [s.incentive_pct for s in cart.steps][:2] == [None, None] and cart.steps[2].incentive_pct
    # every trigger model is documented with its primary key test
    yml = (models / "_triggers__models.yml").read_text()
    for sc in registry.scenarios:
        assert f"- name: {sc.model}\n" in yml


def _minimal() -> dict:
    """A small valid registry: the real guards and two real scenarios."""
    raw = parse(registry_text())
    by_id = {sc["id"]: sc for sc in raw["scenarios"]}
    return {"version": 1, "guards": raw["guards"], "scenarios": [by_id["abandoned_cart"], by_id["subscription_renewal"]]}


def _mutate(change) -> dict:
    reg = copy.deepcopy(_minimal())
    change(reg)
    return reg


def _set(path: list, value):
    def change(reg: dict) -> None:
        node = reg
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _rename(index: int, old: str, new: str):
    def change(reg: dict) -> None:
        reg["scenarios"][index][new] = reg["scenarios"][index].pop(old)
    return change


BAD = {
    "priority_text": (_set(["scenarios", 0, "priority"], "high"),
                      "scenario 'abandoned_cart': priority must be an integer from 1 to 100"),
    "unknown_channel": (_set(["scenarios", 0, "channels"], ["email", "fax"]),
                        "scenario 'abandoned_cart': unknown channel 'fax' (allowed: email, sms, push, ads, sales_alert)"),
    "typo_key": (_rename(0, "cool_down_hours", "cooldown_hours"),
                 "scenario 'abandoned_cart': missing 'cool_down_hours'"),
    "steps_out_of_order": (_set(["scenarios", 0, "steps", 2, "after_hours"], 12),
                           "scenario 'abandoned_cart': step #3: after_hours must be greater than the previous step's"),
    "duplicate_id": (_set(["scenarios", 1, "id"], "abandoned_cart"), "scenario 'abandoned_cart': duplicate id"),
    "transactional_holdout": (_set(["scenarios", 1, "holdout_share"], 0.1),
                              "scenario 'subscription_renewal': transactional scenarios have no holdout (holdout_share must be 0)"),
    "quiet_hours": (_set(["guards", "quiet_hours"], {"start": "25:00", "end": "08:00"}),
                    "guards: quiet_hours.start must be a time HH:MM (quoted)"),
    "payload_type": (_set(["scenarios", 0, "payload", "cart_value"], "json"),
                     "scenario 'abandoned_cart': payload field 'cart_value' must have a type among string, number, string_list"),
    "fallback_without_incentive": (_set(["scenarios", 0, "steps", 0, "incentive_fallback"], "stop"),
                                   "scenario 'abandoned_cart': step #1: incentive_fallback needs incentive_pct"),
    "bad_id": (_set(["scenarios", 0, "id"], "Abandoned Cart"),
               "scenario #1: id must be snake_case text (a-z, 0-9, _), 2 to 41 characters"),
    "cap_key": (_set(["guards", "caps", "fax"], {"per_local_day": 1}),
                "guards: caps: unknown key 'fax' (allowed: all_messages, email, sms, push)"),
    "holdout_share_one": (_set(["scenarios", 0, "holdout_share"], 1),
                          "scenario 'abandoned_cart': holdout_share must be a number from 0 to below 1"),
}


def test_a_minimal_registry_is_valid() -> None:
    assert validate(_minimal()) == []
    assert len(build(_minimal()).scenarios) == 2


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_entries_get_clear_errors(case: str) -> None:
    change, message = BAD[case]
    errors = validate(_mutate(change))
    assert message in errors, errors
    with pytest.raises(ScenarioRegistryError, match=re.escape(message)):
        build(_mutate(change))


def test_yaml_and_jinja_mistakes_in_the_file_are_reported(tmp_path: Path) -> None:
    text = REGISTRY_PATH.read_text()
    broken = tmp_path / "registry.sql"
    broken.write_text(text.replace("  min_hours_between_messages: 4", "  min_hours_between_messages: [4"))
    with pytest.raises(ScenarioRegistryError, match="not valid YAML"):
        load_registry(broken)
    broken.write_text(text.replace("priority: 80", "priority: {{ 80 }}"))
    with pytest.raises(ScenarioRegistryError, match="must not contain Jinja"):
        load_registry(broken)


@pytest.mark.slow
def test_dbt_applies_the_same_rules_with_the_same_messages(built) -> None:
    """One dbt run-operation validates every bad registry with the Jinja validator
    (on the session's build, so dbt reuses its parsed project)."""
    from test_decisions import VARS

    cases = {name: yaml.safe_dump(_mutate(change), sort_keys=False) for name, (change, _) in BAD.items()}
    cases["valid"] = yaml.safe_dump(_minimal(), sort_keys=False)
    proc = run_dbt(["run-operation", "kairos_registry_check", "--args", json.dumps({"cases": cases})],
                   built.settings, vars=VARS, target_path=built.target_path)
    line = next(l for l in (proc.stdout + proc.stderr).splitlines() if "KAIROS_REGISTRY_CHECK" in l)
    from_dbt = json.loads(line[line.index("KAIROS_REGISTRY_CHECK") + len("KAIROS_REGISTRY_CHECK"):])
    for name, text in cases.items():
        assert from_dbt[name] == validate(yaml.safe_load(text)), name


def test_a_bad_setting_stops_dbt_at_parse_time_with_a_clear_message(tmp_path: Path) -> None:
    settings = replace(load_settings(), target="duckdb", duckdb_path=tmp_path / "kairos.duckdb")
    bad = {"kairos__guards": {"quiet_hours": {"start": "25:00", "end": "08:00"}}}
    with pytest.raises(DbtError) as err:
        run_dbt(["parse"], settings, vars=bad, target_path=tmp_path / "target")
    message = str(err.value)
    assert "Scenario registry" in message and "quiet_hours.start must be a time HH:MM" in message


# --------------------------------------------------------------------------- against the truth


END = datetime(2026, 11, 20, 12, 0, 0)
PERSON_OF_KEY = (
    "select d.customer_key, p.* from marts.dim_customers as d "
    "inner join truth.persons as p on d.customer_id = p.customer_id"
)


@pytest.mark.slow
def test_abandoned_cart_triggers_are_true_and_complete(built) -> None:
    carts = built.frame(
        "select g.cart_id, t.abandoned from triggers.trg_abandoned_cart as g left join truth.carts as t using (cart_id)"
    )
    assert len(carts) > 20 and carts["abandoned"].fillna(False).astype(bool).all()
    # registered people's truly abandoned carts in the reminder window are found
    truth = built.frame(
        "select t.cart_id from truth.carts as t inner join truth.persons as p using (person_id) "
        "where t.abandoned and p.person_type = 'registered' "
        "and t.last_activity_at <= timestamp '2026-11-20 11:00:00' and t.last_activity_at > timestamp '2026-11-17 12:00:00'"
    )
    found = set(truth["cart_id"]) & set(carts["cart_id"])
    assert len(found) >= 0.85 * len(truth), (len(found), len(truth))


@pytest.mark.slow
def test_back_in_stock_matches_an_oracle_on_raw_stock_and_true_identities(built) -> None:
    oracle = built.frame(f"""
        with inv as (
            select distinct product_id, quantity_on_hand as q, recorded_at from raw.inventory_levels
            where product_id is not null and quantity_on_hand >= 0 and recorded_at <= timestamp '{END}'
        ),
        last_out as (select product_id, max(recorded_at) as lo from inv where q = 0 group by 1),
        restock as (
            select l.product_id, min(i.recorded_at) as ra from last_out as l
            inner join inv as i on i.product_id = l.product_id and i.recorded_at > l.lo and i.q > 0 group by 1
        ),
        cur as (select product_id, arg_max(q, recorded_at) as q from inv group by 1),
        back as (
            select r.* from restock as r inner join cur using (product_id)
            where cur.q > 0 and r.ra > timestamp '{END}' - interval 7 day
        ),
        ev as (
            select e.event_name, e.product_id, e.event_at, coalesce(ic.person_id, ia.person_id) as person_id
            from staging.stg_shop__events as e
            left join truth.identifiers as ic on ic.identifier_type = 'customer_id' and ic.identifier_value = e.customer_id
            left join truth.identifiers as ia
                on ia.identifier_type = 'anonymous_id' and ia.identifier_value = e.anonymous_id and not ia.is_shared
        ),
        wants as (
            select ev.person_id, back.product_id, min(ev.event_at) as first_want
            from ev inner join back
                on ev.product_id = back.product_id and ev.event_at < back.ra and ev.event_at >= back.ra - interval 21 day
            where ev.person_id is not null and ev.event_name in ('product_view', 'wishlist_add', 'add_to_cart')
            group by 1, 2
            having sum(case when event_name <> 'product_view' then 1 else 0 end) > 0
                or sum(case when event_name = 'product_view' then 1 else 0 end) >= 2
        ),
        bought as (
            select o.person_id, l.product_id, max(o.ordered_at) as lb
            from truth.orders as o inner join raw.order_lines as l using (order_id)
            where o.status <> 'cancelled' group by 1, 2
        )
        select wants.person_id, wants.product_id from wants
        left join bought as b on b.person_id = wants.person_id and b.product_id = wants.product_id and b.lb >= wants.first_want
        where b.person_id is null
    """)
    profiles = set(built.frame(PERSON_OF_KEY)["person_id"])
    expected = {(p, q) for p, q in zip(oracle["person_id"], oracle["product_id"]) if p in profiles}
    got = built.frame(
        f"select p.person_id, t.product_id from triggers.trg_back_in_stock as t inner join ({PERSON_OF_KEY}) as p using (customer_key)"
    )
    got = set(zip(got["person_id"], got["product_id"]))
    assert len(expected) >= 20
    assert len(got & expected) >= 0.95 * len(got), "precision"
    assert len(got & expected) >= 0.85 * len(expected), "recall"


@pytest.mark.slow
def test_replenishment_finds_true_habits_when_their_cycle_runs_out(built) -> None:
    truth = built.frame(f"""
        with habit as (
            select p.*, d.customer_key from truth.persons as p
            inner join marts.dim_customers as d on d.customer_id = p.customer_id
            where p.replenishment_product_id is not null
        ),
        purchases as (
            select o.person_id, l.product_id, max(o.ordered_at) as last_at, count(distinct o.order_id) as n
            from truth.orders as o inner join raw.order_lines as l using (order_id)
            where o.status <> 'cancelled' group by 1, 2
        )
        select h.customer_key, h.replenishment_product_id as product_id, h.replenishment_cycle_days as cycle_days
        from habit as h inner join purchases as b on b.person_id = h.person_id and b.product_id = h.replenishment_product_id
        where b.n >= 2
            and b.last_at + (h.replenishment_cycle_days - 3) * interval 1 day <= timestamp '{END}'
            and b.last_at + (h.replenishment_cycle_days + 21) * interval 1 day > timestamp '{END}'
    """)
    got = built.frame("select customer_key, product_id, cycle_days from triggers.trg_replenishment")
    merged = truth.merge(got, on=["customer_key", "product_id"], suffixes=("_true", ""))
    assert len(truth) >= 10
    assert len(merged) >= 0.7 * len(truth), (len(merged), len(truth))
    error = ((merged["cycle_days"] - merged["cycle_days_true"]).abs() / merged["cycle_days_true"]).median()
    assert error <= 0.15, error


@pytest.mark.slow
def test_win_back_targets_the_truly_dormant(built) -> None:
    got = built.frame(f"select p.person_id, p.lifecycle_stage from triggers.trg_win_back as t inner join ({PERSON_OF_KEY}) as p using (customer_key)")
    assert len(got) >= 20
    assert (got["lifecycle_stage"] == "dormant").mean() >= 0.9
    truth = built.frame(f"""
        select p.person_id from ({PERSON_OF_KEY}) as p
        where p.last_order_at <= timestamp '{END}' - interval 120 day and p.last_order_at > timestamp '{END}' - interval 365 day
    """)
    assert len(set(got["person_id"]) & set(truth["person_id"])) >= 0.9 * len(truth)


@pytest.mark.slow
def test_birthday_greets_exactly_the_people_whose_local_birthday_it_is(built) -> None:
    crm = built.frame("select customer_id, birthday, time_zone, updated_at from raw.crm_customers")
    crm["customer_id"] = crm["customer_id"].astype(str).str.strip()
    crm = crm[crm["customer_id"].ne("") & crm["customer_id"].ne("None")]
    zones = set(pd.read_csv(PROJECT_ROOT / "dbt_project" / "seeds" / "time_zones.csv")["time_zone"])

    def valid_birthday(row) -> datetime | None:
        # text that is not a real date, before 1900 or after the export is unknown (the row stays)
        text = str(row.birthday or "").strip()
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return None
        try:
            born = datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            return None
        return born if born.year >= 1900 and born.date() <= row.updated_at.date() else None

    latest = crm.sort_values("updated_at").groupby("customer_id").tail(1)
    expected = set()
    default_zone = load_registry().guards["default_time_zone"]
    for row in latest.itertuples():
        born = valid_birthday(row)
        if born is None:
            continue
        zone = ZoneInfo(row.time_zone if row.time_zone in zones else default_zone)
        today = END.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
        leap_day = (born.month, born.day) == (2, 29) and (today.month, today.day) == (2, 28) and (today + timedelta(days=1)).month == 3
        if (born.month, born.day) == (today.month, today.day) or leap_day:
            expected.add(row.customer_id)
    anchors = set(built.frame("select customer_id from marts.dim_customers where customer_id is not null")["customer_id"])
    got = built.frame("select d.customer_id from triggers.trg_birthday as t inner join marts.dim_customers as d using (customer_key)")
    assert set(got["customer_id"]) == expected & anchors
