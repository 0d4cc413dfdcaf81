"""Great Expectations suites and the circuit breaker.

* Every suite in expectations/ passes on good data (the generated sample shop
  for the raw suites, well-formed frames for the marts and decisions), and
  every single expectation fails on data broken for it.
* The query suite (no message intent without consent) on a real warehouse.
* Volume against the trailing average, recorded in ops.quality_volumes.
* Data Docs are built to a folder and linked from the check.
* The circuit breaker: a failing blocking check on message intents stops the
  sync downstream of it, a passing one lets it deliver (real sync engine,
  file destination, no dbt: fast).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterEventType, Definitions, asset, materialize

from kairos.settings import Settings
from kairos.warehouse import connect
from orchestration.quality import (
    EXPECTATIONS_DIR,
    load_suite,
    suite_checks,
    suite_kind,
    suite_paths,
    to_pandas,
    validate_dataframe,
    validate_table,
    volume_frame,
)

NOW = dt.datetime(2026, 11, 20, 12, 0, 0)
SHOP = {"customers": 300, "days": 10, "seed": 5, "end": NOW.isoformat()}


@pytest.fixture(autouse=True)
def _pinned(monkeypatch, tmp_path):
    monkeypatch.setenv("KAIROS_NOW", NOW.isoformat(sep=" "))
    monkeypatch.setenv("KAIROS_GX_DOCS_DIR", str(tmp_path / "gx_data_docs"))
    monkeypatch.setenv("KAIROS_GX_DATA_DOCS", "off")


@pytest.fixture(scope="module")
def shop_frames(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The raw tables of a small generated shop, as the checks read them."""
    from kairos.generator import generate

    tables = generate(**SHOP)
    return {name.split(".")[1]: to_pandas(table) for name, table in tables.items() if name.startswith("raw.")}


def _good_customers() -> pd.DataFrame:
    n = 6
    frame = {"customer_key": pd.array([f"k{i}" for i in range(n)], dtype="string"),
             "orders_count": pd.array([0, 1, 2, 3, 4, 5], dtype="Int64")}
    for channel in ("email", "sms", "push", "ads"):
        frame[f"{channel}_consent"] = pd.array([True, True, False, True, False, True], dtype="boolean")
        frame[f"{channel}_reachable"] = pd.array([True, False, False, True, False, None], dtype="boolean")
    return pd.DataFrame(frame)


def _good_intents() -> pd.DataFrame:
    return pd.DataFrame({
        "intent_id": pd.array(["i1", "i2", "i3"], dtype="string"),
        "channel": pd.array(["email", "email", "sms"], dtype="string"),
        "consent_status": pd.array(["granted"] * 3, dtype="string"),
    })


def _volume_frame(ratio: float = 1.0, rows: int = 100) -> pd.DataFrame:
    return pd.DataFrame({
        "table_name": pd.array(["raw.events"], dtype="string"),
        "window_rows": pd.array([rows], dtype="Int64"),
        "trailing_windows": pd.array([7], dtype="Int64"),
        "trailing_avg": [100.0],
        "ratio": [ratio],
    })


def _good_frame(suite: dict, shop_frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    meta = suite["meta"]["kairos"]
    if suite_kind(suite) == "volume":
        return _volume_frame()
    if suite_kind(suite) == "query":
        return _good_intents()
    schema, table = meta["table"].split(".")
    if schema == "raw":
        return shop_frames[table].copy()
    return _good_customers()


# -- breaking one expectation --------------------------------------------------------------

def _break(df: pd.DataFrame, expectation: dict) -> pd.DataFrame:
    """A copy of ``df`` that violates ``expectation`` (and as little else as possible)."""
    kind, kw = expectation["type"], expectation["kwargs"]
    df = df.copy()
    column = kw.get("column")
    n = len(df)
    if kind == "expect_table_row_count_to_be_between":
        return df.iloc[0:0]
    if kind == "expect_table_columns_to_match_set":
        return df.drop(columns=[kw["column_set"][0]])
    if kind == "expect_column_values_to_not_be_null":
        df[column] = pd.Series([None] * n, index=df.index, dtype=object).astype(df[column].dtype)
        return df
    if kind in ("expect_column_proportion_of_unique_values_to_be_between", "expect_column_values_to_be_unique"):
        df[column] = df[column].iloc[0]
        return df
    if kind == "expect_column_values_to_be_in_set":
        df[column] = pd.Series(["__not_in_the_set__"] * n, dtype="string", index=df.index)
        return df
    if kind == "expect_column_values_to_match_regex":
        df[column] = pd.Series(["not-a-timestamp"] * n, dtype="string", index=df.index)
        return df
    if kind == "expect_column_values_to_be_in_type_list":
        wanted = set(kw["type_list"])
        if wanted & {"StringDtype", "str", "object"}:
            df[column] = pd.Series(range(n), dtype="Int64", index=df.index)
        else:
            df[column] = pd.Series(["text"] * n, dtype="string", index=df.index)
        return df
    if kind == "expect_column_values_to_be_between":
        if "max_value" in kw:
            maximum = kw["max_value"]
            if isinstance(maximum, dict):  # {"$PARAMETER": "now_plus_tolerance"}
                df[column] = pd.Series([pd.Timestamp(NOW + dt.timedelta(days=1))] * n, index=df.index).astype(
                    df[column].dtype)
            else:
                df[column] = maximum * 10 + 1
            return df
        df[column] = pd.Series([kw["min_value"] - 1] * n, index=df.index).astype(df[column].dtype)
        return df
    if kind == "expect_column_pair_values_to_be_in_set":
        df[kw["column_A"]] = pd.array([True] * n, dtype="boolean")
        df[kw["column_B"]] = pd.array([False] * n, dtype="boolean")
        return df
    raise AssertionError(f"no breaker for {kind}: add one to tests/test_quality.py")


SUITES = [(path.name, i) for path in suite_paths() for i in range(len(load_suite(path)["expectations"]))]


def test_every_suite_passes_on_good_data(shop_frames):
    for path in suite_paths():
        suite = load_suite(path)
        result = validate_dataframe(_good_frame(suite, shop_frames), suite)
        failed = [(r.expectation_config.type, r.expectation_config.kwargs.get("column"))
                  for r in result.results if not r.success]
        assert not failed, f"{path.name}: {failed}"


@pytest.mark.parametrize(("suite_file", "index"), SUITES, ids=[f"{s}-{i}" for s, i in SUITES])
def test_each_expectation_fails_on_data_broken_for_it(shop_frames, suite_file, index):
    suite = load_suite(EXPECTATIONS_DIR / suite_file)
    expectation = suite["expectations"][index]
    single = {**copy.deepcopy(suite), "expectations": [expectation]}
    broken = _break(_good_frame(suite, shop_frames), expectation)
    (result,) = validate_dataframe(broken, single).results
    assert not result.success, f"{suite_file}: {expectation['type']}({expectation['kwargs'].get('column')}) passed"


def test_suites_are_wired_as_checks_with_their_blocking_flag():
    checks = {spec.name: spec for check in suite_checks() for spec in check.check_specs}
    assert checks["gx_raw_events"].blocking and checks["gx_raw_orders"].blocking
    assert checks["gx_raw_consents"].blocking and checks["gx_marts_customers"].blocking
    assert checks["gx_decisions_intents"].blocking
    assert not checks["volume_raw_events"].blocking
    assert checks["gx_decisions_intents"].asset_key == AssetKey(["decisions", "message_intents"])
    assert checks["gx_marts_customers"].asset_key == AssetKey(["marts", "dim_customers"])
    for path in suite_paths():
        suite = load_suite(path)
        for e in suite["expectations"]:
            assert e.get("severity", "critical") in ("critical", "warning"), (path.name, e["type"])
            assert (e.get("meta") or {}).get("notes"), f"{path.name}: {e['type']} needs meta.notes (why)"


def test_warning_expectations_fail_with_warn_severity(duck_settings):
    """The volume suite only warns: a drop fails the check with WARN, not ERROR."""
    _events_over_days(duck_settings, per_day=[100] * 9 + [10])
    result = validate_table(EXPECTATIONS_DIR / "raw_events_volume.json")
    assert not result.passed and result.severity.value == "WARN"
    assert "ratio" in result.description


# -- checks on a warehouse ------------------------------------------------------------------

def _events_over_days(settings: Settings, per_day: list[int]) -> None:
    """raw.events with ``per_day[i]`` rows received on each day, the last ending at NOW."""
    days = len(per_day)
    rows = []
    for i, count in enumerate(per_day):
        start = NOW - dt.timedelta(days=days - i)
        rows += [(f"e{i}-{j}", start + dt.timedelta(minutes=1 + j % 1000)) for j in range(count)]
    with connect(settings) as wh:
        wh.ensure_schema("raw")
        wh.execute("create or replace table raw.events (event_id text, received_at timestamp)")
        wh.executemany("insert into raw.events values (?, ?)", rows)


def test_volume_against_the_trailing_average_is_recorded(duck_settings):
    _events_over_days(duck_settings, per_day=[100] * 9)
    spec = load_suite(EXPECTATIONS_DIR / "raw_events_volume.json")["meta"]["kairos"]["volume"]
    with connect(duck_settings) as wh:
        frame = volume_frame(wh, spec)
        assert frame["window_rows"][0] == 100 and frame["trailing_avg"][0] == 100.0
        assert frame["ratio"][0] == 1.0
        recorded = wh.fetchall("select table_name, window_rows, trailing_windows, ratio from ops.quality_volumes")
    assert recorded == [("raw.events", 100, 7, 1.0)]
    assert validate_table(EXPECTATIONS_DIR / "raw_events_volume.json").passed


def test_volume_of_a_young_table_is_not_judged(duck_settings):
    _events_over_days(duck_settings, per_day=[50])
    result = validate_table(EXPECTATIONS_DIR / "raw_events_volume.json")
    assert result.passed, result.description  # no history: the ratio is unknown, not wrong


def test_raw_suites_pass_on_the_generated_shop_in_the_warehouse(duck_settings):
    from kairos.generator import generate_and_load

    generate_and_load(**SHOP, settings=duck_settings)
    for name in ("raw_events", "raw_orders", "raw_consents"):
        result = validate_table(EXPECTATIONS_DIR / f"{name}.json")
        assert result.passed, (name, result.description)
        assert result.metadata["dagster/row_count"].value > 0
    # a broken feed: consents with an unknown channel and a timestamp in the future
    with connect(duck_settings) as wh:
        wh.execute("update raw.consents set channel = 'fax' where hash(consent_id) % 3 = 0")
        wh.execute("update raw.consents set recorded_at = timestamp '2030-01-01' where hash(consent_id) % 7 = 0")
    bad = validate_table(EXPECTATIONS_DIR / "raw_consents.json")
    assert not bad.passed and bad.severity.value == "ERROR"
    failed = {(r["expectation"], r["column"]) for r in bad.metadata["results"].value if not r["success"]}
    assert ("expect_column_values_to_be_in_set", "channel") in failed
    assert ("expect_column_values_to_be_between", "recorded_at") in failed
    top = next(r for r in bad.metadata["results"].value if r["column"] == "channel")["top_unexpected"]
    assert top[0]["value"] == "fax"


def _intent_tables(settings: Settings, consent_status: str) -> None:
    """The relations the no-intent-without-consent query reads, with one intent."""
    with connect(settings) as wh:
        for schema in ("decisions", "intermediate", "raw"):
            wh.ensure_schema(schema)
        wh.execute("create or replace table decisions.message_intents as "
                   "select 'i1' as intent_id, 'k1' as customer_key, 'email' as channel, false as is_transactional, "
                   "timestamp '2026-11-20 12:00' as decided_at "
                   "union all select 'i2', 'k1', 'email', true, timestamp '2026-11-20 12:00'")
        wh.execute("create or replace table intermediate.int_identities_stitched as "
                   "select 'customer_id' as identifier_type, 'C1' as identifier_value, 'k1' as customer_key")
        # raw as it lands: padded and upper-case values count too
        wh.execute("create or replace table raw.consents as select 'C1' as customer_id, "
                   "'email' as channel, 'granted' as status, timestamp '2026-11-01' as recorded_at")
        wh.execute("create or replace table raw.contact_history as select 'C1' as customer_id, "
                   "'email' as channel, 'opened' as event_type, timestamp '2026-11-02' as occurred_at")
        if consent_status == "withdrawn":
            wh.execute("insert into raw.consents values (' C1', 'Email', 'WITHDRAWN ', timestamp '2026-11-10')")
        elif consent_status == "unsubscribed":
            wh.execute("insert into raw.contact_history values ('C1', 'email', 'unsubscribed', timestamp '2026-11-10')")


@pytest.mark.parametrize(("status", "passed"), [("granted", True), ("withdrawn", False), ("unsubscribed", False)])
def test_no_message_intent_without_consent(duck_settings, status, passed):
    _intent_tables(duck_settings, status)
    result = validate_table(EXPECTATIONS_DIR / "decisions_intents.json")
    assert result.passed is passed, result.description
    if not passed:
        assert result.severity.value == "ERROR" and "consent_status" in result.description


def test_the_consent_check_validates_the_latest_decision_runs_intents(duck_settings):
    """A micro-batch re-decides some customers only: the check validates the
    intents of the latest decision run, not those an earlier run decided
    (and validated) for a consent that has changed since."""
    _intent_tables(duck_settings, "withdrawn")
    with connect(duck_settings) as wh:
        wh.execute("update decisions.message_intents set decided_at = timestamp '2026-11-09 12:00'")
        wh.execute("insert into decisions.message_intents values ('i3', 'k3', 'email', false, timestamp '2026-11-20 12:00')")
        wh.execute("insert into intermediate.int_identities_stitched values ('customer_id', 'C3', 'k3')")
        wh.execute("insert into raw.consents values ('C3', 'email', 'granted', timestamp '2026-11-01')")
    assert validate_table(EXPECTATIONS_DIR / "decisions_intents.json").passed
    with connect(duck_settings) as wh:
        wh.execute("update decisions.message_intents set decided_at = timestamp '2026-11-20 12:00'")
    assert not validate_table(EXPECTATIONS_DIR / "decisions_intents.json").passed


def test_a_check_that_cannot_read_its_data_fails_with_the_reason(duck_settings):
    result = validate_table(EXPECTATIONS_DIR / "marts_customers.json")
    assert not result.passed and "does not exist" in result.description


def test_data_docs_are_built_to_a_folder(duck_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("KAIROS_GX_DATA_DOCS", "always")
    _intent_tables(duck_settings, "withdrawn")
    result = validate_table(EXPECTATIONS_DIR / "decisions_intents.json")
    assert not result.passed
    page = result.metadata["data_docs"].value
    local = Path(page.removeprefix("file://"))
    assert local.exists() and local.suffix == ".html" and str(tmp_path / "gx_data_docs") in str(local)
    assert (tmp_path / "gx_data_docs").rglob("index.html")


# -- the circuit breaker ---------------------------------------------------------------------------

SYNC_YML = """
description: Abandoned-cart emails as CSV (test).
model: sync_file__abandoned_cart_intents
mode: insert
primary_key: intent_id
channel: email
destination:
  type: file
  format: csv
  folder: breaker_test
"""


def _breaker_defs(tmp_path: Path, settings: Settings) -> Definitions:
    """message_intents (made here, not by dbt) -> its blocking GX check -> the real sync asset."""
    from orchestration.dbt_assets import kairos_dbt
    from orchestration.quality import build_suite_check
    from orchestration.resources import WarehouseResource
    from orchestration.sync_assets import build_sync_asset
    from syncs.config import load_sync_config

    path = tmp_path / "abandoned_cart_breaker.yml"
    path.write_text(SYNC_YML, encoding="utf-8")
    config = load_sync_config(path)
    intents_key = AssetKey(["decisions", "message_intents"])

    @asset(key=intents_key)
    def message_intents() -> None:
        return None

    @asset(key=AssetKey(["syncs", "sync_file__abandoned_cart_intents"]), deps=[intents_key])
    def sync_model() -> None:
        with connect(settings) as wh:
            wh.ensure_schema("syncs")
            wh.execute("create or replace view syncs.sync_file__abandoned_cart_intents as "
                       "select intent_id, customer_key, 'a@example.com' as email from decisions.message_intents")

    check = build_suite_check(EXPECTATIONS_DIR / "decisions_intents.json")
    sync = build_sync_asset(config, [kairos_dbt], gated_by=[intents_key])
    return Definitions(assets=[message_intents, sync_model, sync], asset_checks=[check],
                       resources={"warehouse": WarehouseResource()})


def _run_breaker(tmp_path: Path, settings: Settings):
    defs = _breaker_defs(tmp_path, settings)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(raise_on_error=False)


def test_a_failing_blocking_check_stops_its_downstream_sync(duck_settings, tmp_path):
    _intent_tables(duck_settings, "withdrawn")
    result = _run_breaker(tmp_path, duck_settings)
    assert not result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.blocking
    assert "consent_status" in (evaluation.description or "")
    started = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
    assert "destinations__abandoned_cart_breaker" not in started
    assert "decisions__message_intents" in started, "the step before the check ran"
    # a blocking check stops everything downstream of its asset, the sync model included
    assert not any("sync_file__abandoned_cart_intents" in step for step in started)
    assert not (duck_settings.output_dir / "breaker_test").exists(), "nothing reached the channel"


def test_a_passing_blocking_check_lets_the_sync_deliver(duck_settings, tmp_path):
    _intent_tables(duck_settings, "granted")
    result = _run_breaker(tmp_path, duck_settings)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    files = list((duck_settings.output_dir / "breaker_test").glob("*.csv"))
    assert files and "i1" in files[0].read_text()


def test_sync_assets_are_gated_by_the_checks_on_their_upstream_models(asset_graph=None):
    """In the real graph, each message sync depends on message_intents (whose
    blocking GX check therefore gates it), not only on its sync model."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    intents = AssetKey(["decisions", "message_intents"])
    syncs = [k for k in graph.get_all_asset_keys() if k.path[0] == "destinations"]
    gated = [k for k in syncs if intents in graph.get(k).parent_keys]
    assert gated, "no sync is gated by the checks on decisions/message_intents"
    for key in gated:
        assert "sync/gated_by" in graph.get(key).metadata


def test_suite_files_are_valid_json_with_a_target():
    for path in suite_paths():
        suite = json.loads(path.read_text())
        assert suite_kind(suite) in ("table", "query", "volume"), path.name
