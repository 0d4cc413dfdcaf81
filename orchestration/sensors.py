"""Sensors: new raw data starts the real-time path; failures raise alerts.

* ``kairos_landing_sensor`` (running by default): every
  ``$KAIROS_SENSOR_INTERVAL_SECONDS`` (default 5) it lists the landing zone
  (:func:`kairos.landing.pending_files`; no warehouse access, so it never
  competes with a run for a DuckDB file). Files it has not launched a run
  for yet start ``kairos_realtime``; the cursor remembers launched files by
  name, size and modification time until they leave the folder, and the run
  key makes a retried tick harmless. While a real-time run is still queued
  it launches nothing (that run will take every waiting file).
* ``kairos_raw_tables_sensor`` (stopped by default): for deployments whose
  ingestion writes the raw tables directly (Fivetran, Airbyte, a collector on
  PostgreSQL). It compares each table's high-water mark (newest
  ``loaded_at_field``: events, orders, consents) with its cursor and starts
  ``kairos_realtime`` for new rows; the run validates those rows only
  (``kairos/raw_since``). Use one of the two sensors per raw table: the
  landing loader also raises the high-water marks.
* ``kairos_alert_on_run_failure`` (running by default): a failed run posts an
  alert to ``$KAIROS_ALERT_WEBHOOK_URL`` (:mod:`orchestration.alerts`); when a
  blocking check caused it, the alert says so (circuit breaker open), names
  the checks and why they failed, and lists the steps that were skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from kairos.settings import load_settings
from orchestration.jobs import REALTIME_JOB
from orchestration.quality import RAW_SINCE_TAG

LANDING_SENSOR = "kairos_landing_sensor"
RAW_SENSOR = "kairos_raw_tables_sensor"
ALERT_SENSOR = "kairos_alert_on_run_failure"
INTERVAL_ENV = "KAIROS_SENSOR_INTERVAL_SECONDS"
#: raw tables the high-water sensor watches
WATCHED_TABLES = ("events", "orders", "consents")
_WAITING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING]


def sensor_interval() -> int:
    """Seconds between two evaluations of the landing sensor."""
    try:
        return max(1, int(os.environ.get(INTERVAL_ENV, "5")))
    except ValueError:
        return 5


def _waiting_realtime_run(context: SensorEvaluationContext) -> str | None:
    """Id of a real-time run that has not started yet, if any."""
    try:
        runs = context.instance.get_runs(filters=RunsFilter(job_name=REALTIME_JOB, statuses=_WAITING), limit=1)
    except Exception:  # noqa: BLE001 - no instance (a bare test context): nothing waits
        return None
    return runs[0].run_id if runs else None


def landing_tick(cursor: str | None, fingerprints: Iterable[str], waiting_run: str | None = None
                 ) -> tuple[RunRequest | None, str, str | None]:
    """The landing sensor's decision: ``(run request or None, new cursor, skip reason)``.

    Pure, so the sensor, the in-process worker and the tests share it.
    """
    state = json.loads(cursor) if cursor else {}
    launched = set(state.get("launched", []))
    current = set(fingerprints)
    launched &= current  # files that left the folder are forgotten
    new = sorted(current - launched)
    if not new:
        return None, json.dumps({"launched": sorted(launched)}), (
            "no new files in the landing zone" if not current else f"{len(current)} file(s) already launched")
    if waiting_run:
        return None, json.dumps({"launched": sorted(launched)}), (
            f"{len(new)} new file(s) wait for run {waiting_run[:8]}, which has not started yet")
    run_key = hashlib.sha1("\n".join(new).encode()).hexdigest()[:20]
    request = RunRequest(
        run_key=f"landing-{run_key}",
        tags={"kairos/trigger": "landing", "kairos/landing_files": str(len(new)),
              "kairos/detected_at": dt.datetime.now(dt.timezone.utc).isoformat()},
    )
    return request, json.dumps({"launched": sorted(launched | set(new))}), None


@sensor(
    name=LANDING_SENSOR,
    job_name=REALTIME_JOB,
    minimum_interval_seconds=sensor_interval(),
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches the landing zone ($KAIROS_LANDING_DIR, default landing/) for new files of raw events, orders "
        "and consents and starts kairos_realtime: load -> checks on the micro-batch -> dbt build --selector "
        "realtime -> message syncs."
    ),
)
def landing_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Start ``kairos_realtime`` for files that landed since the last run request."""
    from kairos.landing import pending_files

    files = pending_files(load_settings().landing_dir)
    request, cursor, reason = landing_tick(context.cursor, [f.fingerprint for f in files],
                                           _waiting_realtime_run(context) if files else None)
    if request is None:
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
    return SensorResult(run_requests=[request], cursor=cursor)


def high_water_marks(wh: Any, tables: Iterable[str] = WATCHED_TABLES) -> dict[str, str]:
    """Newest ``loaded_at_field`` value per watched raw table (ISO text)."""
    from orchestration.raw_assets import freshness_of, raw_contract

    marks = {}
    for table in raw_contract():
        if table.identifier in tables:
            fresh = freshness_of(wh, table)
            if fresh and fresh["max_loaded_at"]:
                marks[table.identifier] = str(fresh["max_loaded_at"])
    return marks


def raw_tick(cursor: str | None, marks: dict[str, str]) -> tuple[RunRequest | None, str, str | None]:
    """The high-water sensor's decision (pure)."""
    previous = json.loads(cursor) if cursor else None
    new_cursor = json.dumps(marks, sort_keys=True)
    if previous is None:
        return None, new_cursor, "first evaluation: high-water marks recorded"
    changed = sorted(t for t, mark in marks.items() if mark > previous.get(t, ""))
    if not changed:
        return None, new_cursor, "no new rows in " + ", ".join(sorted(marks) or WATCHED_TABLES)
    since = {t: previous[t] for t in changed if t in previous}
    request = RunRequest(
        run_key="raw-" + hashlib.sha1(new_cursor.encode()).hexdigest()[:20],
        tags={"kairos/trigger": "raw_tables", RAW_SINCE_TAG: json.dumps(since, sort_keys=True),
              "kairos/changed_tables": ",".join(changed)},
    )
    return request, new_cursor, None


@sensor(
    name=RAW_SENSOR,
    job_name=REALTIME_JOB,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "For ingestion that writes the raw tables directly: new rows in raw.events, raw.orders or raw.consents "
        "(newest loaded_at_field above the cursor) start kairos_realtime. Stopped by default; use it instead of "
        "the landing sensor for those tables."
    ),
)
def raw_tables_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """Start ``kairos_realtime`` when a watched raw table's high-water mark moved."""
    from kairos.warehouse import connect

    try:
        with connect(load_settings(), read_only=True) as wh:
            marks = high_water_marks(wh)
    except Exception as exc:  # noqa: BLE001 - a DuckDB file held by a run: try next tick
        return SkipReason(f"warehouse not readable now ({str(exc).splitlines()[0][:200]})")
    request, cursor, reason = raw_tick(context.cursor, marks)
    if request is None:
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
    return SensorResult(run_requests=[request], cursor=cursor)


def alert_for_failed_run(instance: Any, job_name: str, run_id: str, error: str | None = None,
                         log: Any = None) -> bool:
    """Post the alert of a failed run (circuit breaker or plain failure)."""
    from orchestration.alerts import failed_checks_of_run, post_alert, run_failure_text, skipped_steps_of_run

    checks = failed_checks_of_run(instance, run_id)
    skipped = skipped_steps_of_run(instance, run_id)
    kind, text = run_failure_text(job_name, run_id, checks, error, skipped)
    return post_alert(kind, text, log=log, job=job_name, run_id=run_id, failed_checks=checks, skipped_steps=skipped)


@run_failure_sensor(
    name=ALERT_SENSOR,
    default_status=DefaultSensorStatus.RUNNING,
    description="Posts failed runs and failed blocking checks (circuit breaker open) to $KAIROS_ALERT_WEBHOOK_URL.",
)
def alert_on_run_failure(context: RunFailureSensorContext) -> None:
    """One alert per failed run of this code location."""
    run = context.dagster_run
    error = context.failure_event.message if context.failure_event else None
    alert_for_failed_run(context.instance, run.job_name, run.run_id, error, log=context.log)


SENSORS = [landing_sensor, raw_tables_sensor, alert_on_run_failure]
