"""``kairos demo``: the sample shop through the whole pipeline, then a summary.

The demo runs the same Dagster job the UI shows (generation, dbt build with
its tests as checks, Great Expectations, syncs), in-process, so what the demo
proves is what production runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kairos.settings import PROJECT_ROOT, Settings, load_settings
from kairos.warehouse import Warehouse, connect, qualified

LAYERS = (
    "raw",
    "staging",
    "quarantine",
    "intermediate",
    "marts",
    "segments",
    "triggers",
    "decisions",
    "syncs",
    "ops",
)


def _tables(wh: Warehouse, schema: str) -> list[str]:
    rows = wh.fetchall(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [schema],
    )
    return [r[0] for r in rows]


def layer_counts(wh: Warehouse, layers: Iterable[str] = LAYERS) -> dict[str, dict[str, int]]:
    """Row counts of every table and view, per layer schema."""
    counts: dict[str, dict[str, int]] = {}
    for schema in layers:
        tables = _tables(wh, schema)
        if tables:
            counts[schema] = {t: int(wh.scalar(f"select count(*) from {qualified(schema, t)}")) for t in tables}
    return counts


def _print_rows(title: str, rows: list[tuple], headers: tuple[str, ...]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    widths = [max(len(str(h)), *(len(f"{r[i]:,}" if isinstance(r[i], int) else str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    for r in rows:
        cells = [(f"{v:,}".rjust(w) if isinstance(v, int) else str(v).ljust(w)) for v, w in zip(r, widths)]
        print("  " + "  ".join(cells))


def print_summary(settings: Settings, wall_s: float, sync_outputs: list[str]) -> None:
    """Print rows per layer, quarantine reasons, segment sizes, intents and files written."""
    with connect(settings, read_only=settings.target == "duckdb") as wh:
        counts = layer_counts(wh)
        print("\nRows per layer")
        for schema, tables in counts.items():
            print(f"  {schema:<13} {sum(tables.values()):>12,} rows in {len(tables)} tables/views")
            for table, n in tables.items():
                print(f"      {table:<44} {n:>12,}")
        quarantine = []
        for table in _tables(wh, "quarantine"):
            for reason, n in wh.fetchall(
                f"select reject_reason, count(*) from {qualified('quarantine', table)} group by 1 order by 2 desc"
            ):
                quarantine.append((table, reason, int(n)))
        _print_rows("Quarantined rows by reason", quarantine, ("model", "reason", "rows"))
        if "seg_lifecycle_stage" in _tables(wh, "segments"):
            segs = [
                (stage, int(n))
                for stage, n in wh.fetchall(
                    "select lifecycle_stage, count(*) from segments.seg_lifecycle_stage group by 1 order by 2 desc"
                )
            ]
            _print_rows("Lifecycle segment sizes", segs, ("stage", "customers"))
        if wh.table_exists("traits", "customer_clv_fits"):
            status, reason, customers = wh.fetchall(
                "select status, reason, customers from traits.customer_clv_fits order by scored_at desc limit 1"
            )[0]
            print(f"\nPredictive traits (BG/NBD + Gamma-Gamma): fit {status} on {int(customers):,} buyers"
                  + (f" ({reason})" if reason else "")
                  + "; profiles carry the latest scoring from their next build")
    from kairos.why import print_decision_summary

    print_decision_summary(settings)
    print("\nFiles written")
    for path in sync_outputs or ["(none: nothing new to send)"]:
        print(f"  {path}")
    print(f"\nWarehouse: {settings.duckdb_path if settings.target == 'duckdb' else settings.pg_database} ({settings.target})")
    print(f"Demo wall time: {wall_s:.1f} s")


def _step_lines(result) -> list[tuple]:
    """(step, status, seconds) per step of a finished in-process run."""
    rows = []
    for event in result.all_events:
        if event.is_step_success:
            rows.append((event.step_key, "ok", f"{event.event_specific_data.duration_ms / 1000:.1f} s"))
        elif event.is_step_failure:
            rows.append((event.step_key, "FAILED", ""))
    return rows


def run_demo(customers: int = 2_000, days: int = 90, seed: int = 42) -> int:
    """Generate the shop, execute the ``kairos_demo`` Dagster job in-process, print a summary.

    dbt's and Dagster's own output goes to ``logs/demo.log`` so the terminal
    shows the summary; the log path is printed for when something fails.
    """
    import contextlib

    from orchestration.definitions import defs

    settings = load_settings()
    log_path = PROJECT_ROOT / "logs" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    job = defs.resolve_job_def("kairos_demo")
    print(
        f"Running the kairos_demo job on {settings.target} "
        f"({customers:,} customers, {days} days, seed {seed}); full log: {log_path}",
        flush=True,
    )
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = job.execute_in_process(
            run_config={
                "ops": {"raw_sample_shop": {"config": {"customers": customers, "days": days, "seed": seed}}},
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
            },
            raise_on_error=False,
        )
    wall = time.perf_counter() - started
    _print_rows("Steps", _step_lines(result), ("step", "status", "time"))
    outputs: list[str] = []
    for event in result.all_events:
        if event.is_step_materialization:
            meta = event.step_materialization_data.materialization.metadata
            if "outputs" in meta:
                value = meta["outputs"].value
                outputs.extend(value if isinstance(value, list) else [str(value)])
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"\nFAILED step {event.step_key}: {event.event_specific_data.error.message.strip()[:2000]}")
        print(f"\nThe demo run failed after {wall:.1f} s; see {log_path}.")
        return 1
    print_summary(settings, wall, outputs)
    return 0
