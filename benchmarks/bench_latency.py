"""Latency of the real-time path: a new event in the landing zone -> a message at a webhook.

    .venv/bin/python benchmarks/bench_latency.py                  # 1M customers, 12 batches of 100 carts
    .venv/bin/python benchmarks/bench_latency.py --customers 50000 --batches 5

1. The warehouse (DuckDB): the sample shop at ``--customers`` people and
   ``--days`` days of events, built once and kept (``--db``, reused while the
   parameters match), then one full build of its seeds and models. The generator holds a whole
   shop in memory (about 4 GB per 200k people), so shops above ``--chunk``
   people are generated in chunks with their own seeds, the sequential ids
   (customer, order, consent) and email addresses of later chunks suffixed so
   that chunks never share a person; the catalog is the first chunk's.
2. A webhook receiver: ``../shared/bench/http_sink.py`` (``/stats`` counts rows
   and stamps the last receipt), and a webhook sync of the abandoned-cart
   intents to it (its own sync folder, so the repository's syncs are untouched).
3. ``--batches`` times (after ``--warmup`` unmeasured ones): write a micro-batch
   of ``--carts`` add-to-cart events by known customers with email consent,
   an hour old (``orchestration.realtime.write_cart_batch``), into the landing
   zone; the landing sensor is evaluated every ``--interval`` seconds and
   launches ``kairos_realtime`` in this process (``RealtimeLoop``: load ->
   checks on the batch -> dbt build of the realtime selector -> checks ->
   webhook sync). The file lands at a uniformly random moment between two
   sensor ticks, as it would with a sensor polling on its own clock.
   Latency = the sink's last receipt - the moment the file was renamed into
   the landing zone.

Breakdown per batch: sensor wait (file -> tick), run launch (tick -> run
start), load, raw checks, dbt start-up (dbt process start, project load,
partial parse, connections), dbt queries (dbt's own elapsed time: models and
tests), decision checks (Great Expectations on the intents), sync (step),
Dagster overhead (the rest). Also measured once: what a run launched by the
``dagster dev`` daemon adds (a fresh process importing the definitions).

Writes ``bench_results/latency.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench_results" / "latency.json"
SINK = Path(os.environ.get("BENCH_SINK", ROOT.parent / "shared" / "bench" / "http_sink.py"))
SECRET_ENV = "KAIROS_BENCH_WEBHOOK_SECRET"

# later chunks: these id columns get a "_<chunk>" suffix, emails a "+c<chunk>" tag
_SUFFIX = {
    "events": {"customer_id": "C", "order_id": "O"},
    "orders": {"customer_id": "C", "order_id": "O"},
    "order_lines": {"order_id": "O"},
    "crm_customers": {"customer_id": "C"},
    "consents": {"customer_id": "C", "consent_id": "CS"},
    "contact_history": {"customer_id": "C"},
}
_EMAILS = {"events": "email", "orders": "email", "crm_customers": "email"}
_CATALOG = ("products", "inventory_levels", "price_history")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# -- the warehouse -------------------------------------------------------------------------

def build_raw(customers: int, days: int, seed: int, chunk: int, end: str) -> dict[str, int]:
    """Generate the shop into raw.* (in chunks above ``chunk`` people)."""
    from kairos.generator import generate
    from kairos.warehouse import connect, qualified, quote_ident

    parts = max(1, -(-customers // chunk))
    with connect() as wh:
        wh.execute("drop schema if exists raw cascade")
        wh.ensure_schema("raw")
    for k in range(parts):
        size = customers // parts + (1 if k < customers % parts else 0)
        started = time.perf_counter()
        tables = generate(size, days, seed + 1000 * k, end=end)
        with connect() as wh:
            for key, table in tables.items():
                schema, name = key.split(".", 1)
                if schema != "raw" or (k > 0 and name in _CATALOG):
                    continue
                if k == 0:
                    wh.load_arrow("raw", name, table, replace=True)
                    continue
                with wh.stage_arrow("_chunk", table) as staged:
                    columns = []
                    for column in table.column_names:
                        q = quote_ident(column)
                        prefix = _SUFFIX.get(name, {}).get(column)
                        if prefix:
                            columns.append(f"case when {q} like '{prefix}%' then {q} || '_{k}' else {q} end")
                        elif _EMAILS.get(name) == column:
                            columns.append(f"replace({q}, '@', '+c{k}@')")
                        else:
                            columns.append(q)
                    wh.execute(f"insert into {qualified('raw', name)} select {', '.join(columns)} from {staged}")
            del tables
        log(f"chunk {k + 1}/{parts}: {size:,} people in {time.perf_counter() - started:.0f} s")
    with connect(read_only=True) as wh:
        return {t: int(wh.scalar(f"select count(*) from raw.{t}")) for t in
                ("events", "orders", "order_lines", "crm_customers", "consents", "contact_history", "products")}


def bench_profiles(directory: Path, memory_limit: str) -> Path:
    """A profiles.yml like the repository's DuckDB target, with a memory limit
    (the machine is shared; DuckDB's default is 80% of RAM)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profiles.yml").write_text(
        "kairos:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        "      path: \"{{ env_var('KAIROS_DUCKDB_PATH') }}\"\n      schema: main\n      threads: 2\n"
        f"      settings:\n        memory_limit: \"{memory_limit}\"\n        preserve_insertion_order: false\n"
        "        checkpoint_threshold: 1GB\n",
        encoding="utf-8")
    return directory


def full_build(profiles: Path) -> float:
    """One full build of the warehouse's seeds and models; seconds. Data tests
    are left out: at 1M people the tests on staging views recompute the views
    (minutes each), and this benchmark measures the micro-batches after it."""
    from kairos.dbt import dbt_executable
    from kairos.settings import dbt_env, load_settings

    env = {**dbt_env(load_settings()), "DBT_PROFILES_DIR": str(profiles)}
    started = time.perf_counter()
    proc = subprocess.run(
        [dbt_executable(), "build", "--resource-type", "seed", "--resource-type", "model", "--profiles-dir", str(profiles),
         "--target-path", str(ROOT / "target" / "bench_latency")],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise SystemExit(f"full dbt build failed:\n{tail}")
    return time.perf_counter() - started


def ensure_warehouse(args: argparse.Namespace, profiles: Path) -> dict:
    marker = Path(str(args.db) + ".json")
    wanted = {"customers": args.customers, "days": args.days, "seed": args.seed, "chunk": args.chunk}
    if args.reuse and Path(args.db).exists() and marker.exists():
        info = json.loads(marker.read_text())
        if info.get("params") == wanted:
            log(f"reusing {args.db} ({info['raw_rows']['events']:,} raw events)")
            return info
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    for path in (Path(args.db), Path(str(args.db) + ".wal")):
        path.unlink(missing_ok=True)
    end = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    log(f"generating {args.customers:,} people, {args.days} days, ending {end:%Y-%m-%d %H:%M}")
    started = time.perf_counter()
    rows = build_raw(args.customers, args.days, args.seed, args.chunk, end.isoformat())
    generate_s = time.perf_counter() - started
    log(f"raw: {rows}; full dbt build ...")
    build_s = full_build(profiles)
    log(f"full dbt build: {build_s:.0f} s")
    info = {"params": wanted, "end": end.isoformat(), "raw_rows": rows, "generate_s": round(generate_s, 1),
            "full_build_s": round(build_s, 1), "built_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    marker.write_text(json.dumps(info, indent=2))
    return info


# -- the sink and the sync -------------------------------------------------------------------

def start_sink(port: int) -> subprocess.Popen:
    if not SINK.exists():
        raise SystemExit(f"webhook sink {SINK} not found (set BENCH_SINK)")
    proc = subprocess.Popen([sys.executable, str(SINK)], env={**os.environ, "SINK_PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(100):
        try:
            sink_stats(port)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the webhook sink did not start")


def sink_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sync_model() -> str:
    """The sync model of abandoned-cart (or all message) intents this project has."""
    from orchestration.dbt_assets import _RELATIONS

    names = {key.path[-1] for key in _RELATIONS if key.path[0] == "syncs"}
    for candidate in ("sync_file__abandoned_cart_intents", "sync_email__message_intents", "sync_webhook__message_intents"):
        if candidate in names:
            return candidate
    raise SystemExit(f"no sync model of message intents among {sorted(names)}")


def webhook_sync(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model = sync_model()
    (directory / "bench_intents_webhook.yml").write_text(
        f"description: Message intents to the benchmark's webhook sink.\n"
        f"model: {model}\nmode: insert\nprimary_key: intent_id\nchannel: email\n"
        f"destination:\n  type: webhook\n  url: http://127.0.0.1:{port}/kairos\n  secret_env: {SECRET_ENV}\n",
        encoding="utf-8")
    return directory


# -- measuring -----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[index], 2)


def breakdown(t0: float, timing, sink_last: float) -> dict[str, float]:
    steps = timing.steps
    dbt = timing.dbt or {}
    dbt_step = steps.get("kairos_dbt", 0.0)
    parts = {
        "sensor_wait": timing.detected_at - t0,
        "run_launch": (timing.run_started_at or timing.detected_at) - timing.detected_at,
        "load": timing.phases.get("load", 0.0),
        "raw_checks": timing.phases.get("raw_checks", 0.0),
        "dbt_startup": dbt.get("startup_s", 0.0),
        "dbt_queries": dbt.get("elapsed_s", 0.0),
        "dbt_events_and_metadata": max(dbt_step - dbt.get("wall_s", 0.0), 0.0),
        "decision_checks": timing.phases.get("checks", 0.0),
        "sync": timing.phases.get("sync", 0.0),
    }
    total = sink_last - t0
    parts["dagster_overhead"] = max(total - sum(parts.values()), 0.0)
    return {k: round(v, 3) for k, v in parts.items()}


def daemon_launch_cost() -> dict[str, float]:
    """What a run started by the dagster dev daemon pays before its first step:
    a new Python process importing the definitions (Dagster, dagster-dbt, the
    manifest), and ``dbt --version`` (cached per process here, not there)."""
    code = "import time; t=time.perf_counter(); import orchestration.definitions; print(time.perf_counter()-t)"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "KAIROS_DBT_SKIP_PARSE": "1"})
    process_s = time.perf_counter() - started
    from kairos.dbt import dbt_executable

    started = time.perf_counter()
    subprocess.run([dbt_executable(), "--version"], capture_output=True)
    version_s = time.perf_counter() - started
    import_s = float(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else None
    return {"new_process_with_definitions_s": round(process_s, 2),
            "definitions_import_s": round(import_s, 2) if import_s else None,
            "dbt_version_s": round(version_s, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_LATENCY_CUSTOMERS", 1_000_000)))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk", type=int, default=200_000, help="people per generator chunk")
    parser.add_argument("--batches", type=int, default=int(os.environ.get("BENCH_LATENCY_BATCHES", 12)))
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--carts", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="sensor tick interval, seconds")
    parser.add_argument("--db", default=os.environ.get("BENCH_LATENCY_DB", str(ROOT / "warehouse" / "bench_latency.duckdb")))
    parser.add_argument("--memory-limit", default=os.environ.get("BENCH_LATENCY_MEMORY", "6GB"))
    parser.add_argument("--no-reuse", dest="reuse", action="store_false")
    parser.add_argument("--dbt-subprocess", action="store_true",
                        help="run dbt as a subprocess per run (as dagster dev does) instead of in process")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="kairos-bench-latency-"))
    os.environ.update({
        "KAIROS_TARGET": "duckdb",
        "KAIROS_DUCKDB_PATH": str(Path(args.db).resolve()),
        "KAIROS_LANDING_DIR": str(work / "landing"),
        "KAIROS_OUTPUT_DIR": str(work / "output"),
        "KAIROS_GX_DOCS_DIR": str(work / "gx_data_docs"),
        "KAIROS_GX_DATA_DOCS": "failures",
        "GX_ANALYTICS_ENABLED": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        SECRET_ENV: "bench-secret",
    })
    os.environ.pop("KAIROS_NOW", None)
    profiles = bench_profiles(work / "profiles", args.memory_limit)
    load_before = load_average()
    warehouse = ensure_warehouse(args, profiles)

    port = free_port()
    sink = start_sink(port)
    try:
        from dagster import DagsterInstance

        from kairos.dbt import dbt_executable
        from orchestration.dbt_assets import DBT_PROJECT
        from orchestration.definitions import build_definitions
        from orchestration.realtime import RealtimeLoop, write_cart_batch
        from orchestration.resources import KairosDbtCliResource

        defs = build_definitions(webhook_sync(work / "syncs", port))
        dbt = KairosDbtCliResource(project_dir=DBT_PROJECT, profiles_dir=str(profiles), dbt_executable=dbt_executable())
        instance = DagsterInstance.ephemeral()
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        loop = RealtimeLoop(defs, instance, interval=args.interval, run_config=quiet,
                            dbt_in_process=not args.dbt_subprocess)
        # the bench's dbt profile (memory limit) instead of the repository's
        loop.job = _with_resources(loop.job, {"dbt": dbt})

        used: set[str] = set()
        records = []
        rng = random.Random(args.seed)
        for n in range(args.warmup + args.batches):
            before = sink_stats(port)
            path, keys = write_cart_batch(args.carts, exclude=used, seed=n)
            t0 = time.time()
            used.update(keys)
            # the file arrives at a random moment of the sensor's cycle
            time.sleep(rng.uniform(0, args.interval))
            timing = None
            while timing is None:
                timing = loop.tick()
                if timing is None:
                    time.sleep(args.interval)
            after = sink_stats(port)
            delivered = after["rows"] - before["rows"]
            latency = (after["last_ts"] - t0) if delivered and after.get("last_ts") else None
            record = {
                "batch": n, "warmup": n < args.warmup, "carts": len(keys), "delivered": delivered,
                "run_success": timing.success, "latency_s": round(latency, 3) if latency else None,
                "breakdown": breakdown(t0, timing, after["last_ts"]) if latency else None,
                "dbt": timing.dbt, "steps": timing.steps,
            }
            records.append(record)
            log(f"batch {n}{' (warm-up)' if n < args.warmup else ''}: {len(keys)} carts -> {delivered} messages, "
                f"latency {record['latency_s']} s, dbt {timing.dbt}")
        daemon = daemon_launch_cost()
    finally:
        sink.terminate()
        sink.wait(timeout=10)

    measured = [r for r in records if not r["warmup"] and r["latency_s"] is not None]
    latencies = [r["latency_s"] for r in measured]
    phases = {}
    for key in (measured[0]["breakdown"] if measured else {}):
        values = [r["breakdown"][key] for r in measured]
        phases[key] = {"p50": percentile(values, 50), "p95": percentile(values, 95),
                       "mean": round(statistics.mean(values), 3)}
    result = {
        "benchmark": "latency",
        "question": "time from a micro-batch of events in the landing zone to the resulting messages at a webhook",
        "customers": args.customers, "days": args.days, "carts_per_batch": args.carts,
        "batches": len(measured), "warmup_batches": args.warmup, "failed_batches": len(records) - args.warmup - len(measured),
        "sensor_interval_s": args.interval,
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "min": min(latencies) if latencies else None, "max": max(latencies) if latencies else None},
        "target_p95_s": 30, "meets_target": bool(latencies) and percentile(latencies, 95) < 30,
        "breakdown_s": phases,
        "daemon_launch_extra": daemon,
        "how": "RealtimeLoop evaluates kairos_landing_sensor and executes kairos_realtime in one long-lived "
               "process (orchestration/realtime.py), dbt "
               + ("as a subprocess per run" if args.dbt_subprocess else "in process with its parsed manifest kept")
               + "; files arrive at a random moment of the sensor cycle",
        "warehouse": warehouse,
        "sync_model": sync_model(),
        "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_average(),
                    "python": platform.python_version()},
        "records": records,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    log(f"p50 {result['latency_s']['p50']} s, p95 {result['latency_s']['p95']} s over {len(measured)} batches "
        f"-> {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if measured and len(measured) == args.batches else 1


def _with_resources(job, resources):
    """The job with some resources replaced (execute_in_process takes overrides)."""
    execute = job.execute_in_process

    class _Job:
        name = job.name

        def execute_in_process(self, **kwargs):
            return execute(resources=resources, **kwargs)

    return _Job()


if __name__ == "__main__":
    sys.exit(main())
