"""Run every benchmark in this folder (``bench_*.py``) one after another.

Each benchmark writes its own JSON file under ``bench_results/``; this runner
collects them into ``bench_results/summary.json`` and prints it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "bench_results"


def main() -> int:
    """Run the benchmarks; non-zero exit if any of them failed."""
    RESULTS.mkdir(exist_ok=True)
    failures = 0
    summary: dict[str, object] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        summary[script.stem] = {"exit_code": proc.returncode, "wall_s": round(time.perf_counter() - started, 1)}
        failures += proc.returncode != 0
    for result in sorted(RESULTS.glob("*.json")):
        if result.name != "summary.json":
            summary.setdefault("results", {})[result.stem] = json.loads(result.read_text())  # type: ignore[union-attr]
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
