"""Benchmark of the sample-shop generator: at least N raw events (default one
million), generation and DuckDB load timed separately.

    python benchmarks/bench_generator.py [--events 1000000] [--days 90] [--seed 42]

A small calibration run measures events per customer; the customer count is
then chosen to reach the target (and raised once more if the run falls short).
Writes bench_results/generator.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import math
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

END = "2025-06-01T12:00:00"  # fixed, so every run measures the same shop


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="raw events to reach (default 1,000,000)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    import duckdb
    import pyarrow

    from kairos.generator import generate, load
    from kairos.settings import load_settings

    # calibration: events per customer at this many days
    probe_customers = 1_000
    probe = generate(probe_customers, args.days, args.seed, end=END)
    per_customer = probe["raw.events"].num_rows / probe_customers
    del probe
    customers = math.ceil(args.events / per_customer * 1.02)

    attempts = 0
    while True:
        attempts += 1
        started = time.perf_counter()
        tables = generate(customers, args.days, args.seed, end=END)
        generate_s = time.perf_counter() - started
        events = tables["raw.events"].num_rows
        if events >= args.events or attempts >= 3:
            break
        customers = math.ceil(customers * args.events / events * 1.01)
        del tables

    with tempfile.TemporaryDirectory(prefix="kairos-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        settings = replace(load_settings(), target="duckdb", duckdb_path=path)
        started = time.perf_counter()
        counts = load(tables, settings)
        load_s = time.perf_counter() - started
        file_mb = round(path.stat().st_size / 1e6, 1)

    result = {
        "benchmark": "generator",
        "target_events": args.events,
        "customers": customers,
        "days": args.days,
        "seed": args.seed,
        "end": END,
        "raw_events": events,
        "rows": counts,
        "rows_total": sum(counts.values()),
        "generate_s": round(generate_s, 2),
        "duckdb_load_s": round(load_s, 2),
        "total_s": round(generate_s + load_s, 2),
        "events_per_s_generate": round(events / generate_s),
        "duckdb_file_mb": file_mb,
        "peak_rss_mb": _peak_rss_mb(),
        "calibration_events_per_customer": round(per_customer, 1),
        "generate_runs": attempts,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }
    out_dir = ROOT / "bench_results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "generator.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
