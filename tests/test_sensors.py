"""Sensors: the landing sensor (pure decision, Dagster's sensor context, a
real run of what it requests), the raw high-water sensor, and the alert on a
failed run posted over real HTTP to a loopback receiver.

The end-to-end run of the whole real-time path (sensor -> load -> dbt ->
webhook) is in tests/test_orchestration.py, where the dbt warehouse it needs
is built once.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    define_asset_job,
)

from kairos.landing import pending_files
from kairos.warehouse import connect
from orchestration.jobs import REALTIME_JOB
from orchestration.sensors import (
    alert_on_run_failure,
    landing_sensor,
    landing_tick,
    raw_tables_sensor,
    raw_tick,
)

EVENT = {"event_id": "e1", "event_name": "add_to_cart", "source": "web", "anonymous_id": "a1",
         "customer_id": "C1", "cart_id": "crt_1", "event_ts": "2026-11-20T10:00:00Z"}


def _drop(landing: Path, name: str, rows: list[dict] | None = None) -> Path:
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / name
    path.write_text("".join(json.dumps(r) + "\n" for r in (rows or [EVENT])), encoding="utf-8")
    return path


# -- the landing sensor's decision ------------------------------------------------------------

def test_landing_tick_launches_once_per_file_and_forgets_files_that_left():
    request, cursor, reason = landing_tick(None, ["a.jsonl:10:1"])
    assert isinstance(request, RunRequest) and reason is None
    assert request.tags["kairos/landing_files"] == "1"
    # the same file again: no second run
    again, cursor2, reason = landing_tick(cursor, ["a.jsonl:10:1"])
    assert again is None and "already launched" in reason and cursor2 == cursor
    # a new file besides it: one run for the new one, with a different run key
    second, cursor3, _ = landing_tick(cursor2, ["a.jsonl:10:1", "b.jsonl:5:2"])
    assert second is not None and second.run_key != request.run_key
    assert second.tags["kairos/landing_files"] == "1"
    # files that were loaded (moved away) leave the cursor
    none, cursor4, reason = landing_tick(cursor3, [])
    assert none is None and json.loads(cursor4) == {"launched": []} and "no new files" in reason
    # a rewritten file (new size or mtime) is new again
    assert landing_tick(cursor3, ["a.jsonl:11:3", "b.jsonl:5:2"])[0] is not None


def test_landing_tick_waits_for_a_queued_run():
    request, cursor, reason = landing_tick(None, ["a.jsonl:1:1"], waiting_run="abcdef0123")
    assert request is None and "abcdef01" in reason
    assert json.loads(cursor) == {"launched": []}, "the file stays new for the next tick"


# -- the sensor with Dagster's testing utilities ------------------------------------------------

def test_landing_sensor_with_build_sensor_context(duck_settings):
    landing = duck_settings.landing_dir
    with DagsterInstance.ephemeral() as instance:
        empty = landing_sensor(build_sensor_context(instance=instance))
        assert not empty.run_requests and "no new files" in empty.skip_reason.skip_message

        _drop(landing, "events-1.jsonl")
        _drop(landing, ".events-2.jsonl.tmp")  # still being written: ignored
        first = landing_sensor(build_sensor_context(instance=instance))
        assert len(first.run_requests) == 1
        assert first.run_requests[0].tags["kairos/trigger"] == "landing"

        again = landing_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
        assert not again.run_requests

        _drop(landing, "orders-1.jsonl", [{"order_id": "O1"}])
        more = landing_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
        assert len(more.run_requests) == 1 and more.run_requests[0].tags["kairos/landing_files"] == "1"


def test_landing_sensor_does_not_pile_up_runs(duck_settings):
    from dagster._core.test_utils import create_run_for_test

    _drop(duck_settings.landing_dir, "events-1.jsonl")
    with DagsterInstance.ephemeral() as instance:
        create_run_for_test(instance, job_name=REALTIME_JOB, status=DagsterRunStatus.NOT_STARTED)
        result = landing_sensor(build_sensor_context(instance=instance))
        assert not result.run_requests and "not started yet" in result.skip_reason.skip_message


def test_landing_sensor_is_defined_on_the_realtime_job():
    from orchestration.definitions import defs

    sensor = defs.resolve_sensor_def("kairos_landing_sensor") if hasattr(defs, "resolve_sensor_def") \
        else defs.get_sensor_def("kairos_landing_sensor")
    assert sensor.job_name == REALTIME_JOB
    assert sensor.default_status.value == "RUNNING"
    assert sensor.minimum_interval_seconds <= 10


# -- a real run of what the sensor requests -------------------------------------------------------

def test_the_sensors_request_runs_the_loader_for_real(duck_settings):
    """Sensor -> RunRequest -> a real run of a job holding the landing loader
    and the blocking raw-events suite (no dbt: fast); the file lands in
    raw.events exactly once and the check validates only the new rows."""
    from orchestration.quality import SUITE_CHECKS
    from orchestration.raw_assets import QUALITY_SCOPE_TAG, raw_tables
    from orchestration.resources import WarehouseResource

    from tests.test_landing import _raw_tables

    _raw_tables(duck_settings)
    events_check = next(c for c in SUITE_CHECKS if any(s.name == "gx_raw_events" for s in c.check_specs))
    loaded = []

    @asset(deps=[AssetKey(["raw", "events"])])
    def downstream() -> None:
        loaded.append(True)

    job = define_asset_job(REALTIME_JOB, selection=[AssetKey(["raw", "events"]), AssetKey(["downstream"])],
                           tags={QUALITY_SCOPE_TAG: "batch"})
    defs = Definitions(assets=[raw_tables, downstream], asset_checks=[events_check], jobs=[job],
                       sensors=[landing_sensor], resources={"warehouse": WarehouseResource()})
    good = [{**EVENT, "event_id": f"e{i}", "quantity": 1, "price": 2.0} for i in range(20)]
    _drop(duck_settings.landing_dir, "events-good.jsonl", good)
    with DagsterInstance.ephemeral() as instance:
        tick = landing_sensor(build_sensor_context(instance=instance, definitions=defs))
        (request,) = tick.run_requests
        result = defs.resolve_job_def(REALTIME_JOB).execute_in_process(
            instance=instance, tags={**job.tags, **request.tags})
        assert result.success
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.passed and "20 row(s) this run loaded" in evaluation.metadata["scope"].value
        assert loaded == [True]
        # the file was moved: the next tick has nothing to do
        assert pending_files(duck_settings.landing_dir) == []
        assert not landing_sensor(build_sensor_context(instance=instance, cursor=tick.cursor)).run_requests
    with connect(duck_settings, read_only=True) as wh:
        assert wh.scalar("select count(*) from raw.events") == 20


# -- the raw high-water sensor ---------------------------------------------------------------------

def test_raw_tick_baseline_then_changes():
    request, cursor, reason = raw_tick(None, {"events": "2026-11-20 10:00:00"})
    assert request is None and "recorded" in reason
    assert raw_tick(cursor, {"events": "2026-11-20 10:00:00"})[0] is None
    request, _, _ = raw_tick(cursor, {"events": "2026-11-20 10:05:00", "orders": "2026-11-20 09:00:00"})
    assert request is not None
    assert request.tags["kairos/changed_tables"] == "events,orders"
    assert json.loads(request.tags["kairos/raw_since"]) == {"events": "2026-11-20 10:00:00"}


def test_raw_tables_sensor_on_a_warehouse(duck_settings):
    from tests.test_landing import _raw_tables

    _raw_tables(duck_settings)
    with connect(duck_settings) as wh:
        wh.execute("insert into raw.events (event_id, received_at) values ('e1', timestamp '2026-11-20 10:00:00')")
    first = raw_tables_sensor(build_sensor_context())
    assert not first.run_requests
    with connect(duck_settings) as wh:
        wh.execute("insert into raw.events (event_id, received_at) values ('e2', timestamp '2026-11-20 10:01:00')")
    second = raw_tables_sensor(build_sensor_context(cursor=first.cursor))
    (request,) = second.run_requests
    assert json.loads(request.tags["kairos/raw_since"]) == {"events": "2026-11-20 10:00:00"}
    # a warehouse held by another writer is not an error, just a skipped tick
    with connect(duck_settings):
        import subprocess
        import sys

        code = ("from dagster import build_sensor_context\nfrom orchestration.sensors import raw_tables_sensor\n"
                "r = raw_tables_sensor(build_sensor_context())\nprint(type(r).__name__, getattr(r, 'skip_message', ''))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "SkipReason" in out.stdout and "not readable" in out.stdout, out.stdout + out.stderr


# -- alerts over real HTTP ------------------------------------------------------------------------------

class _Receiver:
    """A loopback HTTP server recording JSON posts."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_failed_blocking_check_alerts_over_http(monkeypatch):
    """A run stopped by a failing blocking check: the run-failure sensor posts
    an alert naming the check, its reason and the skipped sync."""
    from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

    @asset(key=AssetKey(["raw", "events"]))
    def events() -> None:
        return None

    @asset_check(asset=events, blocking=True, name="gx_raw_events")
    def broken():
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR,
                                description="failed: expect_column_values_to_not_be_null(event_id)")

    @asset(key=AssetKey(["destinations", "webhook_sync"]), deps=[events])
    def sync() -> None:
        return None

    defs = Definitions(assets=[events, sync], asset_checks=[broken], sensors=[alert_on_run_failure])
    with DagsterInstance.ephemeral() as instance, _Receiver() as receiver:
        monkeypatch.setenv("KAIROS_ALERT_WEBHOOK_URL", receiver.url)
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = build_run_status_sensor_context(
            sensor_name="kairos_alert_on_run_failure", dagster_event=failure, dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        alert_on_run_failure(context)
        (post,) = receiver.posts
    assert post["kind"] == "blocking_check_failed"
    assert "circuit breaker" in post["text"] and "gx_raw_events" in post["text"]
    assert "event_id" in post["text"]
    assert post["failed_checks"][0]["blocking"] is True
    assert post["run_id"] == result.run_id


def test_alert_without_url_only_logs(monkeypatch):
    from orchestration.alerts import post_alert

    monkeypatch.delenv("KAIROS_ALERT_WEBHOOK_URL", raising=False)
    assert post_alert("run_failed", "nothing configured") is False


def test_alert_to_an_unreachable_url_does_not_raise(monkeypatch):
    from orchestration.alerts import post_alert

    monkeypatch.setenv("KAIROS_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("KAIROS_ALERT_TIMEOUT_SECONDS", "1")
    assert post_alert("run_failed", "receiver down") is False


@pytest.mark.parametrize("kind", ["run_failed"])
def test_run_failure_text_without_checks(kind):
    from orchestration.alerts import run_failure_text

    assert run_failure_text("kairos_refresh", "0123456789", [], "dbt exited 1") == (
        kind, "Kairos: run kairos_refresh 01234567 failed: dbt exited 1")
