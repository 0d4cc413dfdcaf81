"""Sync engine benchmark: a 1M-row audience to a local HTTP sink and to CSV files.

    python benchmarks/bench_syncs.py [--rows 1000000] [--memory-limit 256MB]

What it does (all local, in a temporary folder):

1. starts the shared HTTP sink (``../shared/bench/http_sink.py`` from the
   repository, ``SINK_PORT`` = a free port) as a subprocess;
2. builds a 1M-row audience table in a fresh DuckDB file with one vectorised
   ``range()`` query;
3. defines two mirror-mode syncs of it: ``bench_webhook`` (the webhook
   destination, 1,000 rows per request, concurrency 4) and ``bench_csv`` (CSV
   files of 122,880 rows, concurrency 2);
4. runs each sync three times: the first full sync, after 1% of the rows
   changed (an ``update`` of 10,000 emails), and once more with nothing
   changed. Every run is a fresh process, like ``kairos sync NAME``, so its
   peak memory is its own;
5. checks delivery with the sink's ``/stats`` (rows and distinct ids per run)
   and the CSV files' row counts, and writes ``bench_results/syncs.json``.

Figures per run: the sync's wall time (``run_sync``, as the summary line
reports it), the process wall time (interpreter start and imports included),
rows per second, peak RSS (``ru_maxrss`` of the process) and where the main
thread spent its time (``phase_seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SINK = (ROOT / ".." / "shared" / "bench" / "http_sink.py").resolve()
RESULTS = ROOT / "bench_results" / "syncs.json"

TARGETS = {
    "webhook_full_rows_per_s": 150_000,
    "csv_full_s": 2.0,
    "delta_1pct_s": 1.0,
    "no_change_sent": 0,
    "peak_rss_mb": 300,
}

# one measured sync in its own process; prints one JSON line
CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from syncs.config import load_sync_configs
from syncs.engine import SyncFailed, run_sync
config = load_sync_configs(sys.argv[1])[sys.argv[2]]
t = time.perf_counter()
cpu = resource.getrusage(resource.RUSAGE_SELF)
try:
    result = run_sync(config)
except SyncFailed as exc:
    result = exc.result
wall = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF)
cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
status = {}
for line in open("/proc/self/status"):
    if line.startswith(("VmHWM", "VmRSS")):
        status[line.split(":")[0]] = int(line.split()[1]) // 1024
print(json.dumps({"sync_wall_s": round(wall, 3), "sync_cpu_s": round(cpu_s, 3), "import_s": round(t - started, 3),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                  "vm_hwm_mb": status.get("VmHWM"), "result": result.as_metadata()}, default=str))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def start_sink(port: int) -> subprocess.Popen:
    if not SINK.exists():
        raise SystemExit(f"the HTTP sink is missing: {SINK}")
    proc = subprocess.Popen([sys.executable, str(SINK)], env={**os.environ, "SINK_PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            http_json(f"http://127.0.0.1:{port}/stats")
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the HTTP sink did not start")


def duck(env: dict[str, str], sql: str) -> None:
    """One statement on the benchmark warehouse, from a short-lived process (DuckDB has one writer)."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('create schema if not exists syncs'); "
            "c.execute(sys.argv[2]); c.close()")
    subprocess.run([sys.executable, "-c", code, env["KAIROS_DUCKDB_PATH"], sql], check=True, env=env)


def run_child(env: dict[str, str], defs: Path, name: str) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(defs), name], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"sync {name} crashed:\n{proc.stderr[-4000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["process_wall_s"] = round(wall, 3)
    return data


def write_defs(defs: Path, sink_url: str) -> None:
    import yaml

    fields = {"id": "customer_key", "email": "email", "first_name": "first_name", "segment": "segment",
              "score": "score", "last_seen": "last_seen"}
    common = {"model": "sync_bench__audience", "mode": "mirror", "primary_key": "customer_key",
              "channel": "ads", "fields": fields}
    (defs / "bench_webhook.yml").write_text(yaml.safe_dump({
        **common, "description": "benchmark: audience to the local HTTP sink", "batch_size": 1000,
        "concurrency": 4,
        "destination": {"type": "webhook", "url": f"{sink_url}/audience", "secret_env": "KAIROS_BENCH_WEBHOOK_SECRET",
                        "max_attempts": 5, "backoff_base_seconds": 0.05, "timeout_seconds": 30}}))
    (defs / "bench_csv.yml").write_text(yaml.safe_dump({
        **common, "description": "benchmark: audience to CSV files", "batch_size": 122_880, "concurrency": 2,
        "destination": {"type": "file", "format": "csv", "folder": "audience"}}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-limit", default="256MB",
                        help="KAIROS_DUCKDB_MEMORY_LIMIT for the sync processes ('' for DuckDB's default)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    rows, changed = args.rows, args.rows // 100

    tmp = Path(tempfile.mkdtemp(prefix="kairos-bench-"))
    port = free_port()
    env = {**os.environ, "KAIROS_TARGET": "duckdb", "KAIROS_DUCKDB_PATH": str(tmp / "bench.duckdb"),
           "KAIROS_OUTPUT_DIR": str(tmp / "output"), "KAIROS_BENCH_WEBHOOK_SECRET": "bench-secret",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("KAIROS_SYNC_FAULT", None)
    if args.memory_limit:
        env["KAIROS_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    defs = tmp / "defs"
    defs.mkdir()
    sink = start_sink(port)
    sink_url = f"http://127.0.0.1:{port}"
    report: dict[str, Any] = {
        "benchmark": "syncs", "rows": rows, "changed_rows": changed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_start": os.getloadavg()},
        "settings": {"duckdb_memory_limit": args.memory_limit or "default",
                     "webhook": "mirror, batch_size 1000 (one request per batch), concurrency 4",
                     "csv": "mirror, batch_size 122880 (one DuckDB row group per file), concurrency 2"},
        "targets": TARGETS, "runs": {},
    }
    try:
        write_defs(defs, sink_url)
        started = time.perf_counter()
        duck(env, f"""create or replace table syncs.sync_bench__audience as
            select 'c' || lpad(cast(i as varchar), 8, '0') as customer_key,
                   'user' || i || '@example.com' as email,
                   'Name' || (i % 1000) as first_name,
                   case when i % 3 = 0 then 'vip' when i % 3 = 1 then 'std' else 'new' end as segment,
                   cast(i % 100 as double) / 10 as score,
                   timestamp '2026-01-01' + to_minutes(cast(i % 100000 as bigint)) as last_seen
            from range({rows}) as r(i)""")
        report["build_s"] = round(time.perf_counter() - started, 2)

        # 1% of the rows change (an email each), picked by a hash of the key
        change_1pct = ("update syncs.sync_bench__audience set email = 'changed-' || email "
                       "where (hash(customer_key) % 100) = 7")
        steps = [("full", None), ("delta_1pct", change_1pct), ("no_change", None)]
        for step, change in steps:
            if change:
                duck(env, change)
                report["changed_rows"] = changed_rows(env)
            for name in ("bench_webhook", "bench_csv"):
                if name == "bench_webhook":
                    http_json(f"{sink_url}/reset", "POST")
                    sink_cpu_before = proc_cpu(sink.pid)
                files_before = set((tmp / "output" / "audience").glob("*.csv")) if name == "bench_csv" else set()
                print(f"== {name} {step}", flush=True)
                load = os.getloadavg()[0]  # other work on this machine, for reading the figures
                data = run_child(env, defs, name)
                res = data["result"]
                handed = res.get("sent", 0) + res.get("rejected", 0) + res.get("failed", 0)
                run = {
                    "status": res.get("status"), "sync_wall_s": data["sync_wall_s"],
                    "sync_cpu_s": data["sync_cpu_s"],  # user+sys of the sync's process (all threads)
                    "process_wall_s": data["process_wall_s"], "import_s": data["import_s"],
                    "rows_sent": res.get("sent"), "added": res.get("added"), "changed": res.get("changed"),
                    "removed": res.get("removed"), "batches": res.get("batches"),
                    "rows_per_s": round(handed / data["sync_wall_s"], 1) if handed else 0.0,
                    "peak_rss_mb": data["peak_rss_mb"], "phase_seconds": res.get("phase_seconds"),
                    "load_avg_1m_before": round(load, 2), "error": res.get("error"),
                }
                if name == "bench_webhook":
                    stats = http_json(f"{sink_url}/stats")
                    run["sink_cpu_s"] = round(proc_cpu(sink.pid) - sink_cpu_before, 3)
                    run["sink"] = {k: stats.get(k) for k in ("requests", "rows", "distinct_ids", "errors",
                                                             "active_seconds")}
                    run["delivery_ok"] = stats.get("rows") == res.get("sent") == stats.get("distinct_ids")
                else:
                    new_files = sorted(set((tmp / "output" / "audience").glob("*.csv")) - files_before)
                    run["files"] = len(new_files)
                    run["file_rows"] = sum(json.loads(p.with_name(p.stem + ".manifest.json").read_text())["rows"]
                                           for p in new_files)
                    run["delivery_ok"] = run["file_rows"] == res.get("sent")
                report["runs"][f"{name}/{step}"] = run
                print(json.dumps(run), flush=True)
        report["machine"]["load_avg_end"] = os.getloadavg()
        report["verdict"] = verdict(report)
    finally:
        sink.terminate()
        try:
            sink.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sink.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if all(v["ok"] for v in report["verdict"].values()) else 1


def proc_cpu(pid: int) -> float:
    """user+sys seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def changed_rows(env: dict[str, str]) -> int:
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute(\"select count(*) from syncs.sync_bench__audience where email like 'changed-%'\")"
            ".fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, env["KAIROS_DUCKDB_PATH"]], check=True, env=env,
                         capture_output=True, text=True)
    return int(out.stdout.strip())


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    runs = report["runs"]
    webhook_full = runs["bench_webhook/full"]
    csv_full = runs["bench_csv/full"]
    deltas = [runs["bench_webhook/delta_1pct"], runs["bench_csv/delta_1pct"]]
    nothing = [runs["bench_webhook/no_change"], runs["bench_csv/no_change"]]
    peak = max(r["peak_rss_mb"] for r in runs.values())
    return {
        "webhook_full_rows_per_s": {"value": webhook_full["rows_per_s"], "target": ">= 150000",
                                    "ok": webhook_full["rows_per_s"] >= TARGETS["webhook_full_rows_per_s"]},
        "csv_full_s": {"value": csv_full["sync_wall_s"], "target": "< 2 s",
                       "ok": csv_full["sync_wall_s"] < TARGETS["csv_full_s"]},
        "delta_1pct_s": {"value": [d["sync_wall_s"] for d in deltas], "target": "< 1 s",
                         "ok": all(d["sync_wall_s"] < TARGETS["delta_1pct_s"] for d in deltas)},
        "no_change_sent": {"value": [n["rows_sent"] for n in nothing], "target": "0",
                           "ok": all(n["rows_sent"] == 0 for n in nothing)},
        "peak_rss_mb": {"value": peak, "target": "< 300 MB", "ok": peak < TARGETS["peak_rss_mb"]},
        "delivery_verified": {"value": all(r["delivery_ok"] for r in runs.values()), "target": "true",
                              "ok": all(r["delivery_ok"] for r in runs.values())},
        "delta_rows": {"value": [d["rows_sent"] for d in deltas], "target": f"{report['changed_rows']} each",
                       "ok": all(d["rows_sent"] == report["changed_rows"] for d in deltas)},
    }


if __name__ == "__main__":
    sys.exit(main())
