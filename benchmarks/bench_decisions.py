"""Benchmark of the decision layer at 1M customers on DuckDB: the build time of
the triggers and the decision models alone.

    python benchmarks/bench_decisions.py [--customers 1000000] [--days 7] [--chunk 100000]
                                         [--warehouse PATH] [--reuse]

1. Data: the shop is generated in chunks (bench_build.generate_chunked: 1M
   people do not fit in memory at once beside other processes); ``--days`` is
   the click-stream window (orders and CRM reach years back regardless).
2. Upstream once, untimed for this benchmark: seeds and every model the
   triggers and decisions read (staging, identity, profiles, marts, segments),
   without tests.
3. Timed: ``dbt build --select triggers decisions`` - the 24 trigger models,
   the decision models, their data tests and unit tests - and then a
   ``dbt run --select decisions`` alone (the decision models over built
   triggers, as the real-time path reruns them).
4. Writes ``bench_results/decisions.json`` (timings, per-model seconds,
   candidates, intents, top stop reasons) and prints it.

``--reuse`` keeps an existing warehouse with the upstream layers built.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

END = "2025-06-01T12:00:00"  # the same shop as bench_build
NOW = "2025-06-01 12:00:00"
UPSTREAM = [
    "build", "--select", "+triggers", "+decisions", "--exclude", "triggers", "decisions",
    "--resource-type", "model", "--resource-type", "seed",
]


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _timed_dbt(args: list[str], settings, target: Path, now: str = NOW) -> tuple[float, dict]:
    from kairos.dbt import run_dbt

    started = time.perf_counter()
    run_dbt(args, settings, vars={"kairos__now": now}, target_path=target, check=False)
    seconds = round(time.perf_counter() - started, 1)
    results = json.loads((target / "run_results.json").read_text())
    return seconds, results


def _model_seconds(results: dict) -> dict[str, float]:
    out = {}
    for r in results["results"]:
        if r["unique_id"].startswith("model."):
            out[r["unique_id"].split(".")[-1]] = round(r.get("execution_time") or 0.0, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warehouse", default=None,
                        help="DuckDB file (default: <tmp>/kairos-bench-decisions/bench.duckdb, outside the repository)")
    parser.add_argument("--reuse", action="store_true", help="reuse a warehouse whose upstream layers are built")
    parser.add_argument("--now", default=NOW,
                        help="kairos__now for the decisions (with --reuse: the end of that warehouse's shop, "
                             "e.g. the latency benchmark's, recorded in its .json marker)")
    args = parser.parse_args(argv)

    import duckdb

    from kairos.settings import load_settings
    from kairos.warehouse import connect
    from kairos.why import decision_summary

    results_dir = ROOT / "bench_results"
    results_dir.mkdir(exist_ok=True)
    work = Path(tempfile.gettempdir()) / "kairos-bench-decisions"
    work.mkdir(exist_ok=True)
    path = Path(args.warehouse) if args.warehouse else work / "bench.duckdb"
    target = work / "target"
    settings = replace(load_settings(), target="duckdb", duckdb_path=path.resolve())
    result: dict = {
        "benchmark": "decisions",
        "customers": args.customers,
        "days": args.days,
        "seed": args.seed,
        "end": END if args.now == NOW else args.now,
        "warehouse": "duckdb",
    }

    if args.reuse and path.exists():
        result["data"] = {"reused": True}
    else:
        from bench_build import generate_chunked

        if path.exists():
            path.unlink()
        print(f"generating {args.customers:,} people in chunks of {args.chunk:,} ...", flush=True)
        result["data"] = generate_chunked(path, args.customers, args.days, args.chunk, args.seed)
        print("building the upstream layers (not timed here) ...", flush=True)
        result["upstream_build_s"], _ = _timed_dbt(UPSTREAM, settings, target, args.now)

    print("timing dbt build --select triggers decisions ...", flush=True)
    build_s, build_results = _timed_dbt(["build", "--select", "triggers", "decisions"], settings, target, args.now)
    failed = [r["unique_id"] for r in build_results["results"] if r["status"] in ("error", "fail", "skipped")]
    print("timing dbt run --select decisions ...", flush=True)
    run_s, run_results = _timed_dbt(["run", "--select", "decisions"], settings, target, args.now)

    with connect(settings, read_only=True) as wh:
        summary = decision_summary(wh, top=8)
        triggers = {
            t: int(wh.scalar(f"select count(*) from triggers.{t}"))
            for (t,) in wh.fetchall(
                "select table_name from information_schema.tables where table_schema = 'triggers' "
                "and table_name like 'trg_%' order by 1"
            )
        }
        profiles = int(wh.scalar("select count(*) from marts.dim_customers"))
        events = int(wh.scalar("select count(*) from raw.events"))

    result.update({
        "profiles": profiles,
        "raw_events": events,
        "decision_layer_build_s": build_s,
        "decision_layer_build_what": "dbt build --select triggers decisions (24 triggers + decision models, data and unit tests)",
        "decisions_only_run_s": run_s,
        "decisions_only_run_what": "dbt run --select decisions (over built triggers)",
        "failed_nodes": failed,
        "model_seconds_build": dict(list(_model_seconds(build_results).items())[:15]),
        "model_seconds_decisions_run": _model_seconds(run_results),
        "trigger_rows": triggers,
        "candidates": summary["candidates"],
        "intents": summary["intents_total"],
        "top_stop_reasons": summary["top_stop_reasons"],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "peak_rss_mb_driver": _peak_rss_mb(),
        "warehouse_file_mb": round(path.stat().st_size / 1e6, 1),
    })
    out = results_dir / ("decisions.json" if args.customers >= 1_000_000 else f"decisions_{args.customers}.json")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
