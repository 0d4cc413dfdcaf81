"""The real-time path in one long-lived process, and a demo micro-batch.

``dagster dev`` (``make ui``) runs the landing sensor in its daemon and
launches each ``kairos_realtime`` run in a fresh process, which pays for
importing Dagster, dagster-dbt, Great Expectations and the definitions, and
for ``dbt --version``, on every run: 10-20 s on two cores before any work.
:class:`RealtimeLoop` is the low-latency alternative: it evaluates the very
same sensor (:data:`orchestration.sensors.landing_sensor`) every
``interval`` seconds and executes ``kairos_realtime`` in this process, with
everything imported once, dbt included (:mod:`orchestration.dbt_inprocess`:
its parsed manifest is kept, so a run starts its first query at once). Runs
go to the Dagster instance you pass (the UI's
``DAGSTER_HOME`` by default), so they appear in the UI like any other run;
failed runs post the same alerts as the run-failure sensor. Use one or the
other for a landing folder (stop the sensor in the UI if this loop runs)::

    python -m orchestration.realtime                 # run until Ctrl-C
    python -m orchestration.realtime --once          # one tick
    python -m orchestration.realtime drop-carts 100  # a demo micro-batch into the landing zone

:func:`write_cart_batch` writes a micro-batch of abandoned carts (add-to-cart
events by known customers with email consent, an hour old) into the landing
zone: the demo for the UI and the latency benchmark's workload.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kairos.settings import Settings, load_settings

#: step-key prefixes -> phase of the latency breakdown
_PHASES = (
    ("raw_tables", "load"),
    ("raw__", "raw_checks"),
    ("kairos_dbt", "dbt"),
    ("destinations__", "sync"),
)


@dataclass
class RunTiming:
    """One real-time run: when it was detected, launched, and how long each phase took."""

    run_id: str
    success: bool
    detected_at: float  # epoch seconds: the sensor tick that saw the files
    run_started_at: float | None = None
    run_ended_at: float | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (load, raw_checks, dbt, ...)
    dbt: dict[str, float] = field(default_factory=dict)  # wall_s, startup_s, elapsed_s, nodes
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    sync_ended_at: float | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def launch_s(self) -> float | None:
        """From the sensor's decision to the run's start (run launch)."""
        return None if self.run_started_at is None else self.run_started_at - self.detected_at


def run_timing(instance: Any, run_id: str, detected_at: float, success: bool) -> RunTiming:
    """Read a finished run's event log into a :class:`RunTiming`."""
    from dagster import DagsterEventType

    timing = RunTiming(run_id=run_id, success=success, detected_at=detected_at)
    starts: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            if "kairos-timing " in (record.user_message or ""):
                text = record.user_message.split("kairos-timing ", 1)[1].rstrip(")")
                try:
                    timing.dbt = json.loads(text)
                except ValueError:
                    pass
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            timing.run_started_at = record.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            timing.run_ended_at = record.timestamp
        elif kind == DagsterEventType.STEP_START and event.step_key:
            starts[event.step_key] = record.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and event.step_key:
            seconds = record.timestamp - starts.get(event.step_key, record.timestamp)
            timing.steps[event.step_key] = round(seconds, 3)
            phase = next((name for prefix, name in _PHASES if event.step_key.startswith(prefix)), "checks")
            timing.phases[phase] = round(timing.phases.get(phase, 0.0) + seconds, 3)
            if event.step_key.startswith("destinations__"):
                timing.sync_ended_at = max(timing.sync_ended_at or 0.0, record.timestamp)
    return timing


class RealtimeLoop:
    """Evaluate the landing sensor and execute ``kairos_realtime`` in-process."""

    def __init__(self, defs: Any = None, instance: Any = None, interval: float = 1.0,
                 run_config: dict[str, Any] | None = None, dbt_in_process: bool = True) -> None:
        from dagster import DagsterInstance

        if defs is None:
            from orchestration.definitions import defs as loaded

            defs = loaded
        self.defs = defs
        self.instance = instance or DagsterInstance.get()
        self.interval = interval
        self.run_config = run_config or {}
        self.dbt_in_process = dbt_in_process
        self.cursor: str | None = None
        from orchestration.jobs import REALTIME_JOB
        from orchestration.sensors import LANDING_SENSOR

        self.job = defs.resolve_job_def(REALTIME_JOB)
        self.sensor = defs.resolve_sensor_def(LANDING_SENSOR) if hasattr(defs, "resolve_sensor_def") \
            else defs.get_sensor_def(LANDING_SENSOR)

    def tick(self) -> RunTiming | None:
        """One sensor evaluation; runs the job when it asks for a run."""
        from dagster import build_sensor_context

        context = build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        if not data.run_requests:
            return None
        detected_at = time.time()
        request = data.run_requests[0]
        tags = {**(request.tags or {}), "kairos/launched_by": "orchestration.realtime"}
        from orchestration.dbt_inprocess import ENV as IN_PROCESS

        previous = os.environ.get(IN_PROCESS)
        if self.dbt_in_process:
            # dbt stays imported with its manifest parsed: no start-up per run
            os.environ[IN_PROCESS] = "1"
        try:
            result = self.job.execute_in_process(
                run_config=self.run_config, instance=self.instance, tags=tags, raise_on_error=False)
        finally:
            if previous is None:
                os.environ.pop(IN_PROCESS, None)
            else:
                os.environ[IN_PROCESS] = previous
        timing = run_timing(self.instance, result.run_id, detected_at, result.success)
        timing.tags = tags
        if not result.success:
            from orchestration.sensors import alert_for_failed_run

            alert_for_failed_run(self.instance, self.job.name, result.run_id, "run failed (see the run's log)")
        return timing

    def run_forever(self, max_runs: int | None = None) -> None:
        """Tick every ``interval`` seconds until SIGINT/SIGTERM (or ``max_runs`` runs)."""
        stop = {"now": False}

        def _stop(*_: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, _stop)
        runs = 0
        while not stop["now"]:
            started = time.perf_counter()
            try:
                timing = self.tick()
            except KeyboardInterrupt:
                break
            if timing is not None:
                runs += 1
                print(f"kairos_realtime {timing.run_id[:8]} {'ok' if timing.success else 'FAILED'} "
                      f"{json.dumps(timing.phases)}", flush=True)
                if max_runs is not None and runs >= max_runs:
                    break
            time.sleep(max(0.0, self.interval - (time.perf_counter() - started)))


# -- a demo micro-batch -----------------------------------------------------------------------

def _table_columns(wh: Any, schema: str, table: str) -> set[str]:
    return set(wh.columns(schema, table)) if wh.table_exists(schema, table) else set()


def cart_candidates(wh: Any, n: int, now: dt.datetime, exclude: set[str] | frozenset[str] = frozenset(),
                    seed: int = 0) -> list[tuple[str, str]]:
    """Up to ``n`` ``(customer_key, customer_id)`` a first abandoned-cart email may go
    to now: known, email-reachable, no marketing email or Kairos delivery in the last
    48 hours, no order in the last 3 days, not in ``exclude``."""
    columns = _table_columns(wh, "marts", "dim_customers")
    where = ["c.customer_id is not null"]
    where.append("c.email_reachable" if "email_reachable" in columns else "c.email_consent")
    if "last_order_at" in columns:
        where.append("(c.last_order_at is null or c.last_order_at < ?)")
    params: list[Any] = [now - dt.timedelta(days=3)] if "last_order_at" in columns else []
    recent = now - dt.timedelta(hours=48)
    where.append(
        "not exists (select 1 from raw.contact_history h where h.customer_id = c.customer_id "
        "and h.channel = 'email' and h.occurred_at > ?)")
    params.append(recent)
    if wh.table_exists("ops", "sync_records"):
        where.append("c.customer_key not in (select customer_key from ops.sync_records "
                     "where customer_key is not null and status = 'sent')")
    rows = wh.fetchall(
        f"select c.customer_key, c.customer_id from marts.dim_customers c where {' and '.join(where)} "
        f"order by md5(c.customer_key || '{int(seed)}') limit {int(n) + len(exclude)}",
        params,
    )
    return [(k, i) for k, i in rows if k not in exclude][:n]


def in_stock_products(wh: Any, limit: int = 50) -> list[tuple[str, float]]:
    """``(product_id, price)`` of products in stock (or any product, on older models)."""
    columns = _table_columns(wh, "marts", "dim_products")
    if {"product_id", "is_in_stock", "current_price"} <= columns:
        rows = wh.fetchall(
            "select product_id, current_price from marts.dim_products where is_in_stock and current_price > 0 "
            f"order by product_id limit {int(limit)}")
        if rows:
            return [(str(p), float(v)) for p, v in rows]
    rows = wh.fetchall(
        "select product_id, max(list_price) from raw.products where product_id is not null and list_price > 0 "
        f"group by product_id order by product_id limit {int(limit)}")
    return [(str(p), float(v)) for p, v in rows]


def cart_events(customers: list[tuple[str, str]], products: list[tuple[str, float]], now: dt.datetime,
                idle_minutes: int = 61, batch: str = "") -> list[dict[str, Any]]:
    """One add-to-cart event per customer, ``idle_minutes`` ago (raw contract columns)."""
    at = now - dt.timedelta(minutes=idle_minutes)
    events = []
    for i, (_, customer_id) in enumerate(customers):
        product_id, price = products[i % len(products)]
        events.append({
            "event_id": str(uuid.uuid4()),
            "event_name": "add_to_cart",
            "source": "web",
            "anonymous_id": str(uuid.uuid4()),
            "customer_id": customer_id,
            "session_id": str(uuid.uuid4()),
            "cart_id": f"crt_rt{batch}{i:05d}{uuid.uuid4().hex[:8]}",
            "product_id": product_id,
            "quantity": 1,
            "price": price,
            "page_url": f"https://shop.example/products/{product_id}",
            "event_ts": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        })
    return events


def write_landing_file(rows: list[dict[str, Any]], table: str = "events", settings: Settings | None = None,
                       name: str | None = None) -> Path:
    """Write rows as JSON lines into the landing zone atomically (temporary name, then rename)."""
    settings = settings or load_settings()
    settings.landing_dir.mkdir(parents=True, exist_ok=True)
    name = name or f"{table}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}.jsonl"
    target = settings.landing_dir / name
    tmp = settings.landing_dir / f".{name}.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, target)
    return target


def write_cart_batch(n: int, settings: Settings | None = None, now: dt.datetime | None = None,
                     exclude: set[str] | frozenset[str] = frozenset(), seed: int = 0) -> tuple[Path, list[str]]:
    """A micro-batch of ``n`` carts abandoned an hour ago into the landing zone;
    returns the file and the customer keys used."""
    from kairos.warehouse import connect

    settings = settings or load_settings()
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with connect(settings, read_only=True) as wh:
        customers = cart_candidates(wh, n, now, exclude, seed)
        products = in_stock_products(wh)
    if not customers or not products:
        raise RuntimeError("no customers or products to build carts for: build the warehouse first (kairos demo)")
    path = write_landing_file(cart_events(customers, products, now, batch=str(seed)), settings=settings)
    return path, [k for k, _ in customers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.realtime", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between sensor evaluations")
    parser.add_argument("--once", action="store_true", help="evaluate the sensor once and exit")
    drop = sub.add_parser("drop-carts", help="write a micro-batch of abandoned carts into the landing zone")
    drop.add_argument("n", type=int, nargs="?", default=100)
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if args.command == "drop-carts":
        path, keys = write_cart_batch(args.n)
        print(f"wrote {len(keys)} abandoned carts to {path}")
        return 0
    loop = RealtimeLoop(interval=args.interval)
    if args.once:
        timing = loop.tick()
        print("no new files" if timing is None else json.dumps(timing.__dict__, default=str, indent=2))
        return 0 if timing is None or timing.success else 1
    print(f"watching {load_settings().landing_dir} every {args.interval:g} s (Ctrl-C stops)", flush=True)
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
