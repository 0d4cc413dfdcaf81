"""The decision layer on a generated shop: guards hold for every intent, what
the sync layer delivered feeds back, and `kairos why` explains decisions.

One small shop is generated and built once per test session (the cached
:func:`decision_build`, shared with tests/test_scenarios.py): upstream models
and seeds without their tests, then ``dbt build`` of triggers, decisions and
syncs *with* their data tests and the dbt unit tests per rule (consent
withdrawal, caps at window edges, quiet hours across midnight and both
daylight-saving changes, priority ties, out-of-stock, margin threshold,
holdout stability). Tests that change the sync ledger or the guard settings
re-run only the decision models.

The invariants are checked here, independently of the models' SQL, from the
raw contact history, the ledger rows the test wrote, the profiles' consent
and time zones, and the registry (kairos.scenarios).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kairos.dbt import run_dbt
from kairos.scenarios import MESSAGE_CHANNELS, load_registry
from kairos.settings import PROJECT_ROOT, Settings, load_settings
from kairos.warehouse import connect

pytestmark = pytest.mark.slow

CUSTOMERS = 1500
DAYS = 30
SEED = 5
END = datetime(2026, 11, 20, 12, 0, 0)
VARS = {"kairos__now": END.strftime("%Y-%m-%d %H:%M:%S")}
REGISTRY = load_registry()
TIME_ZONES = set(pd.read_csv(PROJECT_ROOT / "dbt_project" / "seeds" / "time_zones.csv")["time_zone"])
DECISION_MODELS = "decisions"  # the folder: candidates ... intents, holdouts, memory

UNIT_TESTS_PER_RULE = {
    "test_decision_guards_consent_withdrawal_and_contact_points",
    "test_decision_guards_caps_at_window_edges",
    "test_decision_guards_quiet_hours_midnight_and_dst",
    "test_decision_guards_quiet_hours_across_dst_start",
    "test_decision_guards_stock_margin_and_holdout_stability",
    "test_decision_log_rules_apply_in_order",
    "test_decision_log_priority_ties_and_conflicts",
    "test_decision_log_explains_each_decision",
    "test_decision_contact_history_maps_campaigns_to_scenarios",
    "test_trg_birthday_local_day_and_29_february",
    "test_int_customers_localised_zones_and_midnight",
}


# --------------------------------------------------------------------------- the shared build


@dataclass
class DecisionBuild:
    """A generated shop with the triggers and the decision layer built on it."""

    settings: Settings
    target_path: Path
    upstream_seconds: float
    decisions_seconds: float
    run_results: dict
    log: pd.DataFrame
    intents: pd.DataFrame

    def __repr__(self) -> str:
        return f"DecisionBuild({self.settings.duckdb_path})"

    def frame(self, sql: str) -> pd.DataFrame:
        with connect(self.settings, read_only=True) as wh:
            return wh.fetch_arrow(sql).to_pandas()

    def decide(self, guards: dict | None = None) -> float:
        """Re-run the decision models (fresh memory) with optional guard overrides; seconds taken."""
        variables = dict(VARS)
        if guards:
            variables["kairos__guards"] = guards
        started = time.perf_counter()
        run_dbt(["run", "--select", DECISION_MODELS, "--full-refresh"], self.settings, vars=variables,
                target_path=self.target_path)
        return time.perf_counter() - started

    def write_ledger(self, rows: list[tuple]) -> None:
        """Replace ops.sync_records with deliveries (record_key, customer_key, channel, scenario_id, sent_at)."""
        with connect(self.settings) as wh:
            wh.ensure_schema("ops")
            wh.execute("drop table if exists ops.sync_records")
            wh.execute(
                "create table ops.sync_records (sync_name varchar, record_key varchar, status varchar, operation varchar, "
                "customer_key varchar, channel varchar, scenario_id varchar, sent_at timestamp, updated_at timestamp)"
            )
            wh.executemany(
                "insert into ops.sync_records values ('test_sync', ?, 'sent', 'insert', ?, ?, ?, ?, ?)",
                [(key, customer, channel, scenario, at, at) for key, customer, channel, scenario, at in rows],
            )

    def drop_ledger(self) -> None:
        with connect(self.settings) as wh:
            wh.execute("drop table if exists ops.sync_records")


_BUILDS: dict[str, DecisionBuild] = {}


def decision_build() -> DecisionBuild:
    """The session's shop and decision build (made on first use, shared by the test modules)."""
    if "duckdb" not in _BUILDS:
        _BUILDS["duckdb"] = _build()
    return _BUILDS["duckdb"]


def _build() -> DecisionBuild:
    from kairos.generator import generate_and_load

    tmp = Path(tempfile.mkdtemp(prefix="kairos-decisions-"))
    atexit.register(shutil.rmtree, tmp, True)
    settings = replace(
        load_settings(), target="duckdb", duckdb_path=tmp / "kairos.duckdb",
        output_dir=tmp / "output", landing_dir=tmp / "landing",
    )
    generate_and_load(customers=CUSTOMERS, days=DAYS, seed=SEED, end=END.isoformat(), settings=settings)
    target = tmp / "target"
    started = time.perf_counter()
    # upstream layers (their own tests belong to their own suites)
    run_dbt(
        ["build", "--select", "+triggers", "+decisions", "+syncs", "--exclude", "triggers", "decisions", "syncs",
         "--resource-type", "model", "--resource-type", "seed"],
        settings, vars=VARS, target_path=target,
    )
    upstream = time.perf_counter() - started
    started = time.perf_counter()
    # ours, with data tests and unit tests
    run_dbt(["build", "--select", "triggers", "decisions", "syncs"], settings, vars=VARS, target_path=target)
    decisions = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())
    build = DecisionBuild(settings, target, upstream, decisions, results, pd.DataFrame(), pd.DataFrame())
    build.log = build.frame("select * from decisions.decision_log")
    build.intents = build.frame("select * from decisions.message_intents")
    print(f"\nupstream {upstream:.1f} s, triggers+decisions+syncs build {decisions:.1f} s")
    return build


@pytest.fixture(scope="module")
def built() -> DecisionBuild:
    return decision_build()


# --------------------------------------------------------------------------- the oracle


def intent_key(*parts: object) -> str:
    """kairos_surrogate_key: md5 of the parts as text joined by '|'."""
    return hashlib.md5("|".join(str(p) for p in parts).encode()).hexdigest()


def scenario_of_campaign(campaign: str) -> str:
    for sc in REGISTRY.scenarios:
        if any(campaign.startswith(prefix) for prefix in sc.history_campaigns):
            return sc.id
    return campaign


def deliveries(build: DecisionBuild, ledger: list[tuple]) -> pd.DataFrame:
    """Delivered messages up to END: the raw contact history's 'sent' events (deduplicated,
    keyed to people by the identity graph) and the ledger rows the test wrote."""
    raw = build.frame(
        "select distinct h.message_id, h.customer_id, h.channel, h.campaign_id, h.occurred_at "
        "from raw.contact_history as h where h.event_type = 'sent' and h.message_id is not null"
    )
    ids = build.frame(
        "select identifier_value as customer_id, customer_key from intermediate.int_identities_stitched "
        "where identifier_type = 'customer_id' and customer_key is not null"
    )
    raw["customer_id"] = raw["customer_id"].astype(str).str.strip()
    raw = raw.merge(ids, on="customer_id")
    raw = raw[raw["occurred_at"] <= END]
    transactional = {sc.id for sc in REGISTRY.scenarios if sc.transactional}
    out = pd.DataFrame({
        "customer_key": raw["customer_key"],
        "channel": raw["channel"].str.strip().str.lower(),
        "scenario_id": raw["campaign_id"].map(scenario_of_campaign),
        "record_key": raw["message_id"],
        "is_marketing": ~raw["campaign_id"].str.startswith("txn_"),
        "sent_at": raw["occurred_at"],
    })
    if ledger:
        led = pd.DataFrame(ledger, columns=["record_key", "customer_key", "channel", "scenario_id", "sent_at"])
        led["is_marketing"] = ~led["scenario_id"].isin(transactional)
        out = pd.concat([out, led[out.columns]], ignore_index=True)
    return out


def zone_of(tz: object, default: str) -> ZoneInfo:
    return ZoneInfo(tz if isinstance(tz, str) and tz in TIME_ZONES else default)


def in_quiet_hours(local: datetime, start: str, end: str) -> bool:
    s, e = (int(x[:2]) * 60 + int(x[3:]) for x in (start, end))
    m = local.hour * 60 + local.minute
    if s == e:
        return False
    return (m >= s or m < e) if s > e else (s <= m < e)


def guard_violations(build: DecisionBuild, guards: dict, ledger: list[tuple]) -> list[str]:
    """Every intent that breaks consent, caps, cool-downs or quiet hours (empty = all good)."""
    g = dict(REGISTRY.guards)
    g.update(guards or {})
    intents = build.frame("select * from decisions.message_intents")
    people = build.frame(
        "select customer_key, email, phone, push_token, email_consent, sms_consent, push_consent, ads_consent, "
        "time_zone from marts.dim_customers"
    ).set_index("customer_key")
    sent = deliveries(build, ledger)
    marketing = sent[sent["is_marketing"] & sent["channel"].isin(MESSAGE_CHANNELS)]
    by_person = {k: v for k, v in marketing.groupby("customer_key")}
    by_person_all = {k: v for k, v in sent.groupby("customer_key")}
    address = {"email": "email", "sms": "phone", "push": "push_token"}
    problems: list[str] = []
    run_counts: Counter = Counter()
    run_channel_counts: Counter = Counter()
    for row in intents.itertuples():
        sc = REGISTRY.scenario(row.scenario_id)
        person = people.loc[row.customer_key] if row.customer_key in people.index else None
        where = f"{row.scenario_id}/{row.customer_key[:8]}/{row.channel}"
        if person is None:
            problems.append(f"{where}: intent for a key without a profile")
            continue
        if pd.isna(row.contact_address):
            problems.append(f"{where}: no contact address")
        if row.due_at < row.decided_at:
            problems.append(f"{where}: due before the decision")
        if row.channel == "ads" and not person["ads_consent"]:
            problems.append(f"{where}: ads audience without ads consent")
        if row.channel not in MESSAGE_CHANNELS:
            continue
        zone = zone_of(person["time_zone"], g["default_time_zone"])
        local_due = row.due_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        if in_quiet_hours(local_due, g["quiet_hours"]["start"], g["quiet_hours"]["end"]):
            problems.append(f"{where}: due at {local_due} inside quiet hours")
        if sc.transactional:
            continue
        # consent, and the address of the channel
        if not person[f"{row.channel}_consent"]:
            problems.append(f"{where}: no {row.channel} consent")
        if row.contact_address != person[address[row.channel]]:
            problems.append(f"{where}: address is not the profile's {address[row.channel]}")
        run_counts[row.customer_key] += 1
        run_channel_counts[(row.customer_key, row.channel)] += 1
        history = by_person.get(row.customer_key, marketing.iloc[0:0])
        local_midnight = datetime.combine(END.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date(), datetime.min.time(), zone)
        day_start = local_midnight.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        # cool-downs: between any two marketing messages, and between occurrences of a scenario
        gap = timedelta(hours=g["min_hours_between_messages"])
        if gap and (history["sent_at"] > END - gap).any():
            problems.append(f"{where}: a marketing message less than {gap} ago")
        if sc.cool_down_hours:
            own = {intent_key(sc.id, st.step, row.customer_key, row.trigger_ref) for st in sc.steps}
            same = by_person_all.get(row.customer_key, sent.iloc[0:0])
            same = same[(same["scenario_id"] == sc.id) & ~same["record_key"].isin(own)]
            if (same["sent_at"] > END - timedelta(hours=sc.cool_down_hours)).any():
                problems.append(f"{where}: {sc.id} sent less than {sc.cool_down_hours} h ago")
        # caps, counting this run's intents too (checked after the loop)
        for scope, subset in (("all_messages", history), (row.channel, history[history["channel"] == row.channel])):
            cap = g["caps"].get(scope)
            if not cap:
                continue
            n_run = run_counts if scope == "all_messages" else run_channel_counts
            key = row.customer_key if scope == "all_messages" else (row.customer_key, row.channel)
            if "per_local_day" in cap and (subset["sent_at"] >= day_start).sum() + n_run[key] > cap["per_local_day"]:
                problems.append(f"{where}: {scope} cap per local day broken")
            for w in cap.get("rolling", []):
                if (subset["sent_at"] > END - timedelta(hours=w["hours"])).sum() + n_run[key] > w["max"]:
                    problems.append(f"{where}: {scope} cap {w['max']} in {w['hours']} h broken")
    limit = 1 if g["min_hours_between_messages"] > 0 else g["max_marketing_intents_per_run"]
    for customer, n in run_counts.items():
        if n > limit:
            problems.append(f"{customer[:8]}: {n} marketing messages in one run (limit {limit})")
    return problems


# --------------------------------------------------------------------------- tests


def test_triggers_and_decisions_build_with_their_rule_unit_tests(built: DecisionBuild) -> None:
    results = built.run_results["results"]
    failed = [r["unique_id"] for r in results if r["status"] in ("error", "fail", "runtime error", "skipped")]
    assert not failed, failed
    unit_tests = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("unit_test.")}
    assert UNIT_TESTS_PER_RULE <= unit_tests, UNIT_TESTS_PER_RULE - unit_tests


def test_every_scenario_has_a_trigger_model_and_most_fire(built: DecisionBuild) -> None:
    assert len(REGISTRY.scenarios) >= 20
    tables = set(built.frame("select table_name from information_schema.tables where table_schema = 'triggers'")["table_name"])
    assert {sc.model for sc in REGISTRY.scenarios} <= tables
    fired = set(built.log["scenario_id"])
    assert len(fired) >= 18, sorted({sc.id for sc in REGISTRY.scenarios} - fired)
    assert set(built.intents["channel"]) >= {"email", "sms", "push", "ads", "sales_alert"}


def test_intents_respect_the_guards(built: DecisionBuild) -> None:
    assert len(built.intents) > 50
    assert guard_violations(built, {}, []) == []
    # every candidate is in the log exactly once, with a reason when it was stopped
    assert built.log["candidate_id"].is_unique
    stopped = built.log[built.log["outcome"] == "stopped"]
    assert stopped["stopped_by"].notna().all() and stopped["details"].notna().all()
    assert set(built.log.loc[built.log["outcome"] == "intent", "intent_id"]) == set(built.intents["intent_id"])


def test_holdouts_are_recorded_and_never_contacted(built: DecisionBuild) -> None:
    holdouts = built.frame("select * from decisions.decision_holdouts")
    assert {"treatment", "scenario_holdout", "global_control"} <= set(holdouts["holdout_group"])
    held = holdouts[holdouts["holdout_group"] != "treatment"][["customer_key", "scenario_id"]]
    contacted = held.merge(built.intents[["customer_key", "scenario_id"]], on=["customer_key", "scenario_id"])
    assert contacted.empty
    from kairos.scenarios import holdout_bucket

    salt = REGISTRY.guards["holdout_salt"]
    for row in holdouts.head(200).itertuples():
        assert row.global_bucket == holdout_bucket(salt, "global", row.customer_key)
        assert row.scenario_bucket == holdout_bucket(salt, row.scenario_id, row.customer_key)


HHMM = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))
WINDOW = st.fixed_dictionaries({"hours": st.sampled_from([1, 24, 48, 168]), "max": st.integers(1, 3)})
CAP = st.fixed_dictionaries({}, optional={"per_local_day": st.integers(1, 2), "rolling": st.lists(WINDOW, max_size=2)})
GUARDS = st.fixed_dictionaries({
    "quiet_hours": st.fixed_dictionaries({"start": HHMM, "end": HHMM}),
    "min_hours_between_messages": st.sampled_from([0, 2, 12]),
    "max_marketing_intents_per_run": st.integers(1, 3),
    "caps": st.fixed_dictionaries({"all_messages": CAP, "email": CAP, "sms": CAP, "push": CAP}),
})


# few examples (each re-runs the decision models, ~10 s); no shrinking: a failing
# example is reported as drawn
@settings(max_examples=3, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_intent_ever_breaks_consent_caps_cool_downs_or_quiet_hours(built: DecisionBuild, data: st.DataObject) -> None:
    """Random guard settings and random earlier deliveries (in the sync ledger) to the
    people with candidates; whatever they are, no intent breaks a guard."""
    guards = data.draw(GUARDS, label="guards")
    people = sorted(set(built.log["customer_key"]))
    scenarios = [sc.id for sc in REGISTRY.scenarios] + ["newsletter"]
    row = st.tuples(
        st.sampled_from(people), st.sampled_from(list(MESSAGE_CHANNELS)), st.sampled_from(scenarios),
        st.integers(1, 8 * 24 * 60),
    )
    drawn = data.draw(st.lists(row, min_size=10, max_size=120), label="deliveries")
    ledger = [(f"rec{i}", person, channel, scenario, END - timedelta(minutes=ago))
              for i, (person, channel, scenario, ago) in enumerate(drawn)]
    # also: some of this build's own intents delivered an hour ago
    for intent in built.intents.head(20).itertuples():
        ledger.append((intent.intent_id, intent.customer_key, intent.channel, intent.scenario_id, END - timedelta(hours=1)))
    built.write_ledger(ledger)
    try:
        built.decide(guards)
        problems = guard_violations(built, guards, ledger)
        assert problems == [], problems[:10]
        log = built.frame("select candidate_id, stopped_by from decisions.decision_log")
        redelivered = log[log["candidate_id"].isin([r[0] for r in ledger[-20:]])]
        assert set(redelivered["stopped_by"]) <= {"already_delivered"}
    finally:
        built.drop_ledger()


def test_deliveries_feed_back_into_the_next_decision(built: DecisionBuild) -> None:
    """Intents the sync layer delivered an hour ago: the same intents are not decided again,
    their people get no further marketing message now (cool-down, caps), and everybody
    else's intents are the build's, with the same ids."""
    chosen = built.intents[(~built.intents["is_transactional"]) & built.intents["channel"].isin(MESSAGE_CHANNELS)].head(25)
    assert len(chosen) >= 10
    ledger = [(r.intent_id, r.customer_key, r.channel, r.scenario_id, END - timedelta(hours=1)) for r in chosen.itertuples()]
    built.write_ledger(ledger)
    try:
        built.decide()
        log = built.frame("select * from decisions.decision_log")
        intents = built.frame("select * from decisions.message_intents")
    finally:
        built.drop_ledger()
    again = log[log["candidate_id"].isin(chosen["intent_id"])]
    assert set(again["stopped_by"]) == {"already_delivered"}
    assert again["details"].str.startswith("this intent was delivered at").all()
    marketing = intents[(~intents["is_transactional"]) & intents["channel"].isin(MESSAGE_CHANNELS)]
    assert not set(marketing["customer_key"]) & set(chosen["customer_key"])
    others = log[log["customer_key"].isin(chosen["customer_key"]) & ~log["candidate_id"].isin(chosen["intent_id"])]
    assert {"cool_down_global", "frequency_cap_channel", "frequency_cap_all_channels"} & set(others["stopped_by"])
    # stable idempotency keys: the people without deliveries get exactly the same intents
    untouched = ~intents["customer_key"].isin(chosen["customer_key"])
    before = ~built.intents["customer_key"].isin(chosen["customer_key"])
    assert set(intents.loc[untouched, "intent_id"]) == set(built.intents.loc[before, "intent_id"])
    assert set(log["candidate_id"]) == set(built.log["candidate_id"])


def test_kairos_why_prints_each_candidate_and_its_rule(built: DecisionBuild, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from kairos.cli import build_parser
    from kairos.why import decision_summary

    monkeypatch.setenv("KAIROS_TARGET", "duckdb")
    monkeypatch.setenv("KAIROS_DUCKDB_PATH", str(built.settings.duckdb_path))
    log = built.frame("select * from decisions.decision_log")  # the warehouse's latest decision run
    per_person = log.groupby("customer_key")["outcome"].agg(lambda s: set(s))
    busy = [k for k, outcomes in per_person.items() if outcomes == {"intent", "stopped"}]
    customer = busy[0]
    customer_id = built.frame(
        f"select customer_id from decisions.decision_customer_context where customer_key = '{customer}'"
    )["customer_id"].iloc[0]
    parser = build_parser()  # the real `kairos` command line
    args = parser.parse_args(["why", customer_id])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    mine = log[log["customer_key"] == customer]
    assert out.count("-> INTENT") == (mine["outcome"] == "intent").sum()
    assert out.count("-> STOPPED by") == (mine["outcome"] == "stopped").sum()
    for reason in mine["stopped_by"].dropna():
        assert f"STOPPED by {reason}:" in out
    scenario = mine["scenario_id"].iloc[0]
    args = parser.parse_args(["why", customer, "--scenario", scenario])
    assert args.func(args) == 0
    assert set(line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if not line.strip().startswith("->")) == {scenario}
    # the demo summary
    with connect(built.settings, read_only=True) as wh:
        summary = decision_summary(wh)
    assert summary["intents_total"] == (log["outcome"] == "intent").sum()
    assert summary["top_stop_reasons"][0][1] >= summary["top_stop_reasons"][-1][1]


@pytest.mark.postgres
def test_hashing_and_local_time_agree_on_postgres() -> None:
    """Holdout buckets and time-zone conversions compiled for PostgreSQL give the values
    the DuckDB unit tests and Python give (the same assignment on both engines)."""
    from kairos.scenarios import holdout_bucket

    settings = replace(load_settings(), target="postgres", pg_database=os.environ.get("KAIROS_PG_ADMIN_DB", "postgres"))
    keys = ["h1", "h3", "h9", "4611ea6d676387f4b3a8a8dfbda4a768"]
    values = " union all ".join(f"select '{k}' as k" for k in keys)
    sql = (
        "select k, {{ kairos_hash_bucket([\"'kairos-v1'\", \"'abandoned_cart'\", 'k']) }} as b, "
        "cast({{ kairos_local_to_utc(\"cast('2024-10-27 08:00:00' as timestamp)\", \"'Europe/Berlin'\") }} as text) as utc, "
        "cast({{ kairos_utc_to_local(\"cast('2024-03-31 00:30:00' as timestamp)\", \"'Europe/Berlin'\") }} as text) as local "
        f"from ({values}) as keys"
    )
    proc = run_dbt(["show", "--inline", sql, "--output", "json", "--limit", "10"], settings,
                   target_path=Path(tempfile.mkdtemp(prefix="kairos-pg-show-")))
    text = proc.stdout[proc.stdout.index("{"):]
    rows = json.loads(text[: text.rindex("}") + 1])["show"]
    for row in rows:
        assert row["b"] == holdout_bucket("kairos-v1", "abandoned_cart", row["k"])
        assert row["utc"].startswith("2024-10-27 07:00:00")
        assert row["local"].startswith("2024-03-31 01:30:00")


def test_the_demo_summary_prints_intents_per_scenario_and_the_top_stop_reasons(
    built: DecisionBuild, capsys: pytest.CaptureFixture
) -> None:
    from kairos.demo import print_summary

    print_summary(built.settings, 1.0, [])
    out = capsys.readouterr().out
    assert "Intents per scenario and channel" in out and "Top reasons candidates were stopped" in out
    per_channel = built.frame(
        "select scenario_id, channel, count(*) as n from decisions.message_intents group by 1, 2"
    )
    for row in per_channel.itertuples():
        assert re.search(rf"^\s+{row.scenario_id}\s+{row.channel}\s+{row.n:,}$", out, re.M), row
    top = built.frame(
        "select stopped_by, count(*) as n from decisions.decision_log where outcome = 'stopped' "
        "group by 1 order by 2 desc, 1 limit 1"
    ).iloc[0]
    assert re.search(rf"^\s+{top.stopped_by}\s+{int(top.n):,}$", out, re.M)
