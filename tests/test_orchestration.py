"""The Dagster layer: the asset graph (with a snapshot), jobs, schedules and
sensors, the Great Expectations suite as a blocking check, the sync assets,
one end-to-end run of the demo job on a temporary DuckDB and, on the same
warehouse, the real-time path end to end: a micro-batch of abandoned carts
dropped into the landing zone -> the landing sensor -> kairos_realtime (load,
checks on the batch, dbt --selector realtime) -> a webhook receiver.

Regenerate the asset-graph snapshot after an intended change with::

    KAIROS_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_orchestration.py -k snapshot
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections import deque
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType

from kairos.settings import PROJECT_ROOT, Settings
from kairos.warehouse import connect

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
SYNC_NAME = "abandoned_cart_email_file"
SYNC_MODEL = "sync_file__abandoned_cart_intents"
SYNC_KEY = AssetKey(["destinations", SYNC_NAME])
SYNC_MODEL_KEY = AssetKey(["syncs", SYNC_MODEL])
INTENTS_KEY = AssetKey(["decisions", "message_intents"])
RAW_EVENTS_KEY = AssetKey(["raw", "events"])
RAW_TABLES = (
    "events",
    "orders",
    "order_lines",
    "products",
    "inventory_levels",
    "price_history",
    "crm_customers",
    "consents",
    "contact_history",
)
# a fixed clock: the generator's history ends here and dbt decides at this time
PINNED_NOW = "2026-11-20T12:00:00"
SMALL = {"customers": 300, "days": 30, "seed": 7, "end": PINNED_NOW}


# -- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="session")
def asset_graph(defs):
    return defs.resolve_asset_graph()


@pytest.fixture(scope="session")
def dbt_cli():
    """One DbtCliResource for the whole session (it runs `dbt --version` on first use)."""
    from orchestration.resources import dbt_resource

    return dbt_resource()


def _generate(settings: Settings, **overrides) -> dict[str, int]:
    from kairos.generator import generate_and_load

    return generate_and_load(**{**SMALL, **overrides}, settings=settings)


def _ancestors(asset_graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    queue = deque([key])
    while queue:
        for parent in asset_graph.get(queue.popleft()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return seen


def _graph_snapshot(asset_graph) -> dict:
    assets = {}
    for key in sorted(asset_graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = asset_graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
        }
    return {"assets": assets}


# -- (a) the asset graph ---------------------------------------------------------------

def test_definitions_load_with_jobs_schedules_sensors_and_resources(defs):
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "kairos_demo", "kairos_refresh", "kairos_realtime", "kairos_batch"}
    schedule = defs.resolve_schedule_def("kairos_refresh_hourly")
    assert schedule.job_name == "kairos_refresh"
    assert schedule.cron_schedule == "0 * * * *"
    assert defs.resolve_schedule_def("kairos_batch_daily").job_name == "kairos_batch"
    sensors = {s.name: s for s in defs.sensors}
    assert sensors["kairos_landing_sensor"].job_name == "kairos_realtime"
    assert sensors["kairos_raw_tables_sensor"].job_name == "kairos_realtime"
    assert "kairos_alert_on_run_failure" in sensors
    for definition in [*defs.schedules, *defs.sensors]:
        assert definition.description, f"{definition.name} is undocumented"
    assert {"dbt", "warehouse"} <= set(defs.resources)


def test_every_raw_table_is_an_asset_of_the_loader_fed_by_the_generator(asset_graph):
    from orchestration.raw_assets import SAMPLE_SHOP_KEY, raw_sample_shop, raw_tables

    expected = {AssetKey(["raw", t]) for t in RAW_TABLES}
    assert expected <= set(raw_tables.keys)
    assert set(raw_sample_shop.keys) == {SAMPLE_SHOP_KEY}
    for key in expected:
        node = asset_graph.get(key)
        assert node.group_name == "raw"
        assert node.is_materializable
        assert SAMPLE_SHOP_KEY in node.parent_keys


def test_realtime_and_batch_jobs_follow_the_selectors(defs):
    from orchestration.jobs import selector_keys

    realtime_models = selector_keys("realtime")
    batch_models = selector_keys("batch")
    assert AssetKey(["marts", "fct_events"]) in realtime_models
    assert AssetKey(["triggers", "trg_abandoned_cart"]) in realtime_models
    assert INTENTS_KEY in realtime_models and SYNC_MODEL_KEY in realtime_models
    # profiles, identity and segments are batch work
    for key in (AssetKey(["marts", "dim_customers"]), AssetKey(["intermediate", "int_identities_stitched"]),
                AssetKey(["segments", "seg_lifecycle_stage"])):
        assert key not in realtime_models and key in batch_models, key
    # the last micro-batch's deliveries count in the next one's caps; the
    # customer context and suppressions come from batch layers only
    assert AssetKey(["decisions", "decision_contact_history"]) in realtime_models
    # the micro-batch re-decides the customers in scope, and records its run
    for key in (AssetKey(["decisions", "decision_scope"]), AssetKey(["decisions", "decision_runs"]),
                AssetKey(["triggers", "int_decision_scope_events"])):
        assert key in realtime_models and key not in batch_models, key
    for key in (AssetKey(["decisions", "decision_customer_context"]), AssetKey(["decisions", "decision_suppressions"]),
                AssetKey(["intermediate", "int_identity_assignments"])):
        assert key not in realtime_models, key
    for key in (AssetKey(["decisions", "decision_customer_context"]), AssetKey(["decisions", "decision_suppressions"])):
        assert key in batch_models, key
    realtime = defs.resolve_job_def("kairos_realtime")
    nodes = set(realtime.graph.node_dict)
    assert {"raw_tables", "kairos_dbt", "raw__events_gx_raw_events", f"destinations__{SYNC_NAME}"} <= nodes
    assert "raw_sample_shop" not in nodes
    # volume and freshness checks stay with the refresh
    assert "raw__events_volume_raw_events" not in nodes and "raw__events_source_freshness" not in nodes
    assert realtime.tags["kairos/quality_scope"] == "batch"
    # the loader runs before dbt (fct_events reads raw events through views), gated by the raw checks
    dbt_inputs = realtime.graph.dependencies[next(k for k in realtime.graph.dependencies if k.name == "kairos_dbt")]
    assert "raw_events" in dbt_inputs


def test_dbt_keys_groups_and_kinds_follow_the_layers(asset_graph):
    from orchestration.translator import LAYERS

    for key in asset_graph.get_all_asset_keys():
        node = asset_graph.get(key)
        # nothing the graph needs is left unexecutable (dbt sources are the raw assets)
        assert node.is_materializable, key
        if "dbt" in node.kinds:
            layer = key.path[0]
            assert layer in LAYERS and node.group_name == layer, key
            assert node.owners, key
    stg = asset_graph.get(AssetKey(["staging", "stg_shop__events"]))
    assert stg.group_name == "staging"
    assert {"dbt", "view"} <= stg.kinds
    assert stg.description and "select" not in stg.description.lower()[:20]
    intents = asset_graph.get(INTENTS_KEY)
    assert {"dbt", "table"} <= intents.kinds


def test_lineage_from_raw_events_to_the_sync_asset(asset_graph):
    sync = asset_graph.get(SYNC_KEY)
    assert sync.group_name == "destinations"
    # its model, and the models upstream of it whose blocking checks gate it
    assert set(sync.parent_keys) == {SYNC_MODEL_KEY, INTENTS_KEY, AssetKey(["marts", "dim_customers"])}
    assert "csv" in sync.kinds
    assert INTENTS_KEY in asset_graph.get(SYNC_MODEL_KEY).parent_keys
    # the trigger reaches the intents through the decision layer's candidates
    assert AssetKey(["triggers", "trg_abandoned_cart"]) in _ancestors(asset_graph, AssetKey(["decisions", "decision_candidates"]))
    upstream = _ancestors(asset_graph, SYNC_KEY)
    for key in (
        RAW_EVENTS_KEY,
        AssetKey(["staging", "stg_shop__events"]),
        AssetKey(["intermediate", "int_identities_stitched"]),
        AssetKey(["marts", "fct_events"]),
        AssetKey(["triggers", "trg_abandoned_cart"]),
        INTENTS_KEY,
        SYNC_MODEL_KEY,
    ):
        assert key in upstream, key
    # the sync asset's key cannot collide with the dbt model's
    assert SYNC_KEY != SYNC_MODEL_KEY


def test_dbt_tests_and_the_suites_are_checks(asset_graph):
    checks = {(c.asset_key, c.name) for c in asset_graph.asset_check_keys}
    assert (RAW_EVENTS_KEY, "gx_raw_events") in checks
    assert (AssetKey(["raw", "orders"]), "gx_raw_orders") in checks
    assert (AssetKey(["raw", "consents"]), "gx_raw_consents") in checks
    assert (RAW_EVENTS_KEY, "volume_raw_events") in checks
    assert (RAW_EVENTS_KEY, "source_freshness") in checks
    assert (AssetKey(["marts", "dim_customers"]), "gx_marts_customers") in checks
    assert (INTENTS_KEY, "gx_decisions_intents") in checks
    assert any(k == INTENTS_KEY and n.startswith("unique_") for k, n in checks)
    assert any(k == SYNC_MODEL_KEY for k, _ in checks)


def test_refresh_job_keeps_the_loader_and_checks_but_not_the_generator(defs):
    refresh = defs.resolve_job_def("kairos_refresh")
    demo = defs.resolve_job_def("kairos_demo")
    assert "raw_sample_shop" not in refresh.graph.node_dict
    assert "raw_sample_shop" in demo.graph.node_dict
    assert "raw_tables" in refresh.graph.node_dict
    assert "raw__events_gx_raw_events" in refresh.graph.node_dict
    assert {"kairos_dbt", f"destinations__{SYNC_NAME}"} <= set(refresh.graph.node_dict)


def test_asset_graph_snapshot(asset_graph):
    current = _graph_snapshot(asset_graph)
    if os.environ.get("KAIROS_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with KAIROS_UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    added = sorted(set(current["assets"]) - set(expected["assets"]))
    removed = sorted(set(expected["assets"]) - set(current["assets"]))
    changed = sorted(
        k for k in set(current["assets"]) & set(expected["assets"]) if current["assets"][k] != expected["assets"][k]
    )
    assert not (added or removed or changed), (
        f"asset graph changed: added={added} removed={removed} changed={changed}. "
        "If intended, regenerate with KAIROS_UPDATE_SNAPSHOTS=1 and review the diff of "
        f"{SNAPSHOT.relative_to(PROJECT_ROOT)}"
    )


def test_dbt_build_args_pin_the_clock(monkeypatch):
    from orchestration.dbt_assets import DbtBuildConfig, dbt_build_args

    no_unit = ["--exclude-resource-type", "unit_test"]
    monkeypatch.delenv("KAIROS_NOW", raising=False)
    assert dbt_build_args(DbtBuildConfig()) == ["build", *no_unit]
    monkeypatch.setenv("KAIROS_NOW", "2026-01-01 00:00:00")
    assert dbt_build_args(DbtBuildConfig()) == ["build", "--vars", '{"kairos__now": "2026-01-01 00:00:00"}', *no_unit]
    args = dbt_build_args(DbtBuildConfig(now="2026-02-02 00:00:00", full_refresh=True, unit_tests=True))
    assert args == ["build", "--vars", '{"kairos__now": "2026-02-02 00:00:00"}', "--full-refresh"]


def test_ui_home_disables_telemetry_and_queues_duckdb_runs(tmp_path):
    from dagster import DagsterInstance

    from kairos.ui import dagster_command, ensure_dagster_home, ui_env

    home = ensure_dagster_home(tmp_path / ".dagster_home")
    text = (home / "dagster.yaml").read_text()
    assert "enabled: false" in text and "kairos/warehouse" in text
    cmd = dagster_command(3999)
    assert cmd[-6:] == ["-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", "3999"]
    env = ui_env(home)
    assert env["DAGSTER_HOME"] == str(home)
    assert Path(env["KAIROS_DUCKDB_PATH"]).is_absolute()
    instance = DagsterInstance.from_config(str(home))
    limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
    assert {"key": "kairos/warehouse", "value": "duckdb", "limit": 1} in limits
    # a dagster.yaml the user wrote is theirs
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_dagster_home(home)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


@pytest.mark.postgres
def test_dagster_storage_on_postgres(pg_settings, tmp_path, monkeypatch):
    """KAIROS_DAGSTER_STORAGE=postgres: runs and event logs in PostgreSQL."""
    from dagster import DagsterInstance, asset, materialize

    from kairos.ui import ensure_dagster_home

    for key, value in {"DAGSTER_PG_HOST": pg_settings.pg_host, "DAGSTER_PG_PORT": str(pg_settings.pg_port),
                       "DAGSTER_PG_USER": pg_settings.pg_user, "DAGSTER_PG_PASSWORD": pg_settings.pg_password,
                       "DAGSTER_PG_DB": pg_settings.pg_database}.items():
        monkeypatch.setenv(key, value)
    home = ensure_dagster_home(tmp_path / "home", storage="postgres")

    @asset
    def tiny() -> int:
        return 1

    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize([tiny], instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None


# -- (b) the Great Expectations suite ----------------------------------------------------

def test_suite_event_names_agree_with_the_seed():
    """The suite accepts every spelling the seed lists, and nothing staging would
    quarantine (staging matches lower-cased names with only letters and digits)."""
    from orchestration.quality import EXPECTATIONS_DIR, load_suite

    suite = load_suite(EXPECTATIONS_DIR / "raw_events.json")
    with open(PROJECT_ROOT / "dbt_project" / "seeds" / "event_name_map.csv", newline="") as f:
        seed_names = {row["raw_event_name"] for row in csv.DictReader(f)}
    in_set = [
        e["kwargs"]["value_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "event_name"
    ]
    assert len(in_set) == 1
    assert seed_names <= set(in_set[0])

    def key(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.strip().lower())

    assert {key(n) for n in in_set[0]} == {key(n) for n in seed_names}


def _break_raw_events(settings: Settings) -> None:
    """Half the rows lose their event_id, half get an unknown source."""
    with connect(settings) as wh:
        wh.execute("update raw.events set event_id = null where hash(received_at, event_ts, anonymous_id) % 2 = 0")
        wh.execute("update raw.events set source = 'kiosk' where hash(anonymous_id, received_at) % 2 = 1")


def test_suite_passes_on_generated_data_and_blocks_on_broken_data(duck_settings, defs, monkeypatch):
    from orchestration.quality import EXPECTATIONS_DIR, validate_table

    _generate(duck_settings)
    good = validate_table(EXPECTATIONS_DIR / "raw_events.json")
    assert good.passed, good.metadata["summary"].value
    results = good.metadata["results"].value
    assert all(r["success"] for r in results)
    assert {"unexpected_count", "unexpected_percent"} <= set(
        next(r for r in results if r["column"] == "event_id" and r["expectation"].endswith("not_be_null"))
    )

    _break_raw_events(duck_settings)
    bad = validate_table(EXPECTATIONS_DIR / "raw_events.json")
    assert not bad.passed
    assert bad.severity.value == "ERROR"
    failed = {(r["expectation"], r["column"]) for r in bad.metadata["results"].value if not r["success"]}
    assert ("expect_column_values_to_not_be_null", "event_id") in failed
    assert ("expect_column_values_to_be_in_set", "source") in failed
    source = next(r for r in bad.metadata["results"].value if r["column"] == "source" and "in_set" in r["expectation"])
    assert 30 < source["unexpected_percent"] < 70
    assert source["top_unexpected"][0]["value"] == "kiosk"

    # the circuit breaker: in the refresh job the failed check stops dbt and the syncs
    monkeypatch.setenv("KAIROS_NOW", SMALL["end"].replace("T", " "))
    result = defs.resolve_job_def("kairos_refresh").execute_in_process(raise_on_error=False)
    assert not result.success
    evaluations = {(ev.asset_key, ev.check_name): ev for ev in result.get_asset_check_evaluations()}
    assert not evaluations[(RAW_EVENTS_KEY, "gx_raw_events")].passed
    assert evaluations[(RAW_EVENTS_KEY, "gx_raw_events")].blocking
    started = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
    assert "kairos_dbt" not in started and not any(k.startswith("destinations__") for k in started)
    assert not result.asset_materializations_for_node("kairos_dbt")
    assert not (duck_settings.output_dir / "abandoned_cart_email").exists()


@pytest.mark.postgres
def test_suite_passes_on_postgres(pg_settings):
    from orchestration.quality import EXPECTATIONS_DIR, validate_table

    _generate(pg_settings)
    result = validate_table(EXPECTATIONS_DIR / "raw_events.json")
    assert result.passed, result.metadata["summary"].value
    assert result.metadata["dagster/row_count"].value > 0


# -- sync assets --------------------------------------------------------------------

def test_a_failed_sync_fails_its_step(monkeypatch, duck_settings):
    from dagster import materialize

    import syncs.engine
    from orchestration.definitions import sync_assets
    from orchestration.resources import WarehouseResource

    def broken(config, **_):
        result = syncs.engine.SyncResult(sync_name=config.name, run_id="r1", status="failed", rejected=2,
                                         error="2 record(s) rejected")
        raise syncs.engine.SyncFailed(result)

    monkeypatch.setattr(syncs.engine, "run_sync", broken)
    asset_def = next(a for a in sync_assets if SYNC_KEY in a.keys)
    result = materialize([asset_def], resources={"warehouse": WarehouseResource()}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    error = failure.step_failure_data.user_failure_data
    assert error is not None and error.metadata["rejected"].value == 2
    assert "2 record(s) rejected" in (error.description or "")


# -- (c) end to end: the demo, then the real-time path ------------------------------------------

WEBHOOK_SECRET = b"e2e-secret"
FILE_SYNC_YML = """
description: Abandoned-cart reminder emails as CSV (test copy).
model: sync_file__abandoned_cart_intents
mode: insert
primary_key: intent_id
channel: email
fields: [intent_id, customer_key, email, first_name, scenario_id, step, cart_id, cart_value, product_ids, due_at]
destination:
  type: file
  format: csv
  folder: abandoned_cart_email
"""
WEBHOOK_SYNC_YML = """
description: Abandoned-cart intents to a webhook (test).
model: sync_file__abandoned_cart_intents
mode: insert
primary_key: intent_id
channel: email
fields: [intent_id, customer_key, cart_id]
destination:
  type: webhook
  url: {url}/hook
  secret_env: KAIROS_TEST_WEBHOOK_SECRET
  max_attempts: 2
"""


def _failures(result) -> str:
    return "\n".join(
        f"{e.step_key}: {e.step_failure_data.error.message[-3000:] if e.step_failure_data.error else e.message}"
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE
    )


@pytest.mark.slow
def test_demo_job_then_the_realtime_path_end_to_end(duck_settings, dbt_cli, monkeypatch, tmp_path):
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions
    from orchestration.realtime import RealtimeLoop, cart_candidates, cart_events, in_stock_products, write_landing_file
    from tests.fakes.webhook import FakeWebhook

    monkeypatch.setenv("KAIROS_NOW", PINNED_NOW.replace("T", " "))
    monkeypatch.setenv("KAIROS_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET.decode())
    monkeypatch.setenv("KAIROS_GX_DOCS_DIR", str(tmp_path / "gx_data_docs"))
    syncs_dir = tmp_path / "syncs"
    syncs_dir.mkdir()
    with FakeWebhook(WEBHOOK_SECRET) as webhook:
        (syncs_dir / "abandoned_cart_email_file.yml").write_text(FILE_SYNC_YML)
        (syncs_dir / "abandoned_cart_webhook.yml").write_text(WEBHOOK_SYNC_YML.format(url=webhook.url))
        defs = build_definitions(syncs_dir)

        # 1. the demo: generator -> loader -> checks -> dbt -> checks -> syncs
        result = defs.resolve_job_def("kairos_demo").execute_in_process(
            run_config={"ops": {"raw_sample_shop": {"config": SMALL}}},
            resources={"dbt": dbt_cli},
            raise_on_error=False,
        )
        assert result.success, _failures(result)
        materialized = {e.asset_key for e in result.all_events
                        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert {AssetKey(["raw", t]) for t in RAW_TABLES} | {INTENTS_KEY, SYNC_MODEL_KEY, SYNC_KEY} <= materialized
        evaluations = result.get_asset_check_evaluations()
        by_check = {(ev.asset_key, ev.check_name): ev for ev in evaluations}
        for check in ("gx_raw_events", "volume_raw_events", "source_freshness"):
            assert by_check[(RAW_EVENTS_KEY, check)].passed, by_check[(RAW_EVENTS_KEY, check)].description
        assert by_check[(INTENTS_KEY, "gx_decisions_intents")].passed
        assert by_check[(AssetKey(["marts", "dim_customers"]), "gx_marts_customers")].passed
        assert any(k == INTENTS_KEY for k, _ in by_check), "dbt tests on message_intents ran as checks"
        assert all(ev.passed for ev in evaluations), [k for k, ev in by_check.items() if not ev.passed]

        # the file sync wrote exactly the decided intents (of the sync model)
        with connect(duck_settings, read_only=True) as wh:
            intents = {r[0] for r in wh.fetchall(f"select intent_id from syncs.{SYNC_MODEL}")}
        written: list[str] = []
        for path in sorted((duck_settings.output_dir / "abandoned_cart_email").glob("*.csv")):
            with open(path, newline="") as f:
                written += [row["intent_id"] for row in csv.DictReader(f)]
        assert intents, "the pinned sample shop should produce abandoned-cart intents"
        assert sorted(written) == sorted(intents)
        assert sum(len(d["rows"]) for d in webhook.delivered.values()) == len(intents)

        mats = {e.asset_key: e.event_specific_data.materialization for e in result.all_events
                if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert mats[RAW_EVENTS_KEY].metadata["dagster/row_count"].value > 0
        assert mats[RAW_EVENTS_KEY].metadata["freshness/lag_minutes"].value < 24 * 60
        assert "event_id" in {c.name for c in mats[RAW_EVENTS_KEY].metadata["dagster/column_schema"].value.columns}
        assert mats[INTENTS_KEY].metadata["dagster/row_count"].value >= len(intents)
        assert "preview" in mats[INTENTS_KEY].metadata
        # trigger refs such as "P00309@2026-11-19" may show; addresses may not
        assert not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", mats[INTENTS_KEY].metadata["preview"].value), \
            "no email in a preview"
        # the predictive traits ran after fct_orders and wrote one row per buyer, with the fit's
        # outcome (or, below the data minimums, the reason there is none)
        traits = mats[AssetKey(["traits", "customer_clv"])].metadata
        with connect(duck_settings, read_only=True) as wh:
            assert wh.scalar("select count(*) from traits.customer_clv") == traits["dagster/row_count"].value > 0
            fit_status = wh.scalar("select status from traits.customer_clv_fits")
        assert traits["fit_status"].value == fit_status
        assert fit_status == "ok" or traits["fit_reason"].value
        assert mats[SYNC_KEY].metadata["sent"].value == len(intents)
        assert mats[SYNC_KEY].metadata["status"].value == "success"

        # 2. the real-time path: carts abandoned an hour ago land as a file ...
        now = dt.datetime.fromisoformat(PINNED_NOW)
        with connect(duck_settings, read_only=True) as wh:
            customers = cart_candidates(wh, 8, now)
            products = in_stock_products(wh)
        assert customers, "no customer to abandon a cart"
        rows = [{**event, "received_at": (now - dt.timedelta(minutes=59)).isoformat(sep=" ")}
                for event in cart_events(customers, products, now, batch="e2e")]
        write_landing_file(rows, settings=duck_settings)
        before = sum(len(d["rows"]) for d in webhook.delivered.values())

        # ... the sensor sees it and the real-time job runs (in this process, as the worker does)
        with DagsterInstance.ephemeral() as instance:
            loop = RealtimeLoop(defs, instance)
            timing = loop.tick()
            assert timing is not None, "the sensor did not fire"
            assert timing.success, timing.steps
            assert loop.tick() is None, "a file is picked up once"
        assert set(timing.phases) >= {"load", "raw_checks", "dbt", "sync"}
        assert timing.dbt.get("nodes", 0) > 0 and timing.launch_s is not None

        carts = [r["cart_id"] for r in rows]
        with connect(duck_settings, read_only=True) as wh:
            placeholders = ", ".join("?" for _ in carts)
            expected = {r[0] for r in wh.fetchall(
                f"select intent_id from syncs.{SYNC_MODEL} where cart_id in ({placeholders})", carts)}
            loaded = wh.scalar(f"select count(*) from raw.events where cart_id in ({placeholders})", carts)
            # the demo decided everyone; the micro-batch only the customers in scope
            runs = wh.fetchall("select scope, customers_in_scope from decisions.decision_runs order by run_started_at")
            people = wh.scalar("select count(*) from marts.dim_customers")
            in_scope = {r[0] for r in wh.fetchall("select customer_key from decisions.decision_scope")}
        assert [scope for scope, _ in runs] == ["all", "changed"]
        assert runs[-1][1] == len(in_scope) < people / 2
        assert {key for key, _ in customers} <= in_scope
        assert loaded == len(rows)
        assert expected, "the new abandoned carts produced no intent"
        delivered = [row for d in webhook.delivered.values() for row in d["rows"]]
        assert {r["intent_id"] for r in delivered[before:]} == expected
