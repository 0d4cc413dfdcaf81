"""dbt inside a long-lived process: no interpreter start, no imports, no parse per run.

``dagster-dbt`` runs every ``dbt build`` as a subprocess: the interpreter
starts, dbt is imported, the project is loaded and (partially) parsed, and the
adapter registered before the first query, which is 5-7 s on two idle cores
and two to three times that on a busy machine: the largest fixed cost of the
real-time path. A process that runs the real-time job again and again (the
worker of :mod:`orchestration.realtime`, the latency benchmark) can instead
keep dbt imported and its parsed manifest in memory and call
:class:`dbt.cli.main.dbtRunner` with it; only compilation and the queries
remain.

The events dbt fires are turned into the same Dagster events as the
subprocess path (``dagster_dbt``'s own event translation is reused), so
materialisations, checks, blocking and metadata are identical. Opt in with
``KAIROS_DBT_IN_PROCESS=1`` (the real-time worker sets it); ``dagster dev``
runs keep the subprocess, which isolates dbt's memory and global state from
the run worker.

The manifest is parsed again when a file of the dbt project changes (the
same rule as :func:`orchestration.dbt_assets.manifest_is_stale`) and when
the warehouse settings change (profile and target are baked into it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ENV = "KAIROS_DBT_IN_PROCESS"
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def enabled() -> bool:
    """Whether ``kairos_dbt`` should run dbt in this process."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


class InProcessDbtError(RuntimeError):
    """dbt reported a failure (a model or a test failed, or dbt itself)."""


def _fingerprint(profiles_dir: str) -> tuple:
    from orchestration.dbt_assets import _newest_input_mtime

    return (_newest_input_mtime(), profiles_dir, os.environ.get("KAIROS_TARGET", "duckdb"),
            os.environ.get("KAIROS_DUCKDB_PATH", ""), os.environ.get("KAIROS_PG_DATABASE", ""))


def _manifest(project_dir: Path, profiles_dir: str, target_path: Path) -> Any:
    """The parsed dbt manifest (a dbt ``Manifest`` object), cached per fingerprint."""
    from dbt.cli.main import dbtRunner

    key = _fingerprint(profiles_dir)
    if _STATE.get("key") != key:
        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(project_dir), "--profiles-dir",
                                     profiles_dir, "--target-path", str(target_path)])
        if not result.success or result.result is None:
            raise InProcessDbtError(f"dbt parse failed: {result.exception}")
        _STATE.update(key=key, manifest=result.result)
    return _STATE["manifest"]


def run(
    args: Sequence[str],
    *,
    context: Any,
    manifest_json: dict[str, Any],
    project: Any,
    translator: Any,
    profiles_dir: str,
    target_path: Path,
) -> tuple[list[Any], dict[str, Any]]:
    """Run ``dbt <args>`` for the assets ``context`` selects; returns the Dagster
    events (as the subprocess path would yield them) and a timing dict
    (``startup_s``: manifest cache and runner set-up, ``elapsed_s``: dbt's run).

    Raises :class:`InProcessDbtError` after collecting the events when dbt failed:
    the caller yields what succeeded, then fails the step.
    """
    from dagster_dbt.asset_utils import get_subset_selection_for_context
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    started = time.perf_counter()
    with _LOCK:  # dbt keeps global state: one invocation at a time per process
        manifest = _manifest(Path(project.project_dir), profiles_dir, target_path)
        selection, indirect = get_subset_selection_for_context(
            context=context, manifest=manifest_json, select=context.assets_def.op.tags.get("dagster_dbt/select"),
            exclude=context.assets_def.op.tags.get("dagster_dbt/exclude"),
            selector=context.assets_def.op.tags.get("dagster_dbt/selector"),
            dagster_dbt_translator=translator,
            current_dbt_indirect_selection_env=os.environ.get("DBT_INDIRECT_SELECTION"),
        )
        raw: list[dict[str, Any]] = []

        def collect(msg: Any) -> None:
            if msg.info.name in ("LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"):
                raw.append(msg_to_dict(msg))

        previous = os.environ.get("DBT_INDIRECT_SELECTION")
        if indirect:
            os.environ["DBT_INDIRECT_SELECTION"] = indirect
        try:
            runner = dbtRunner(manifest=manifest, callbacks=[collect])
            setup_s = time.perf_counter() - started
            run_started = time.perf_counter()
            result = runner.invoke([
                *args, *selection, "--project-dir", str(project.project_dir), "--profiles-dir", profiles_dir,
                "--target-path", str(target_path), "--quiet",
            ])
            elapsed_s = time.perf_counter() - run_started
        finally:
            _release_duckdb()
            if indirect:
                if previous is None:
                    os.environ.pop("DBT_INDIRECT_SELECTION", None)
                else:
                    os.environ["DBT_INDIRECT_SELECTION"] = previous
    events: list[Any] = []
    for event in raw:
        message = DbtCoreCliEventMessage(raw_event=event, event_history_metadata={})
        events.extend(message.to_default_asset_events(
            manifest=manifest_json, dagster_dbt_translator=translator, context=context,
            target_path=target_path, project=project))
    timing = {"wall_s": round(time.perf_counter() - started, 3), "startup_s": round(setup_s, 3),
              "elapsed_s": round(elapsed_s, 3), "nodes": len(raw), "in_process": True}
    if not result.success:
        failed = [e["data"]["node_info"]["unique_id"] for e in raw
                  if e["data"].get("status") in ("error", "fail", "runtime error")
                  or (e["data"].get("node_info") or {}).get("node_status") in ("error", "fail")]
        reason = f"{result.exception}" if result.exception else f"failed nodes: {', '.join(failed[:10]) or '?'}"
        raise _Partial(events, timing, InProcessDbtError(f"dbt {' '.join(args)} failed in process: {reason}"))
    return events, timing


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process.

    dbt-duckdb holds one database instance per process for reuse; in a
    subprocess that ends with the process, here it would keep the file
    locked in read-write mode, and the next read-only connection of this
    process (metadata, checks) would be refused.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    try:
        from dbt.adapters.factory import cleanup_connections

        cleanup_connections()
    except Exception:  # noqa: BLE001 - best effort
        pass
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if env is not None:
        try:
            env.close()
        except Exception:  # noqa: BLE001 - closing twice is harmless
            pass
    import gc

    gc.collect()


class _Partial(Exception):
    """Carries the events collected before a failure (see :func:`run`)."""

    def __init__(self, events: list[Any], timing: dict[str, Any], error: Exception) -> None:
        super().__init__(str(error))
        self.events, self.timing, self.error = events, timing, error


def stream(args: Sequence[str], **kwargs: Any) -> Iterator[Any]:
    """Convenience for tests: the events of :func:`run`, raising at the end on failure."""
    try:
        events, _ = run(args, **kwargs)
    except _Partial as partial:
        yield from partial.events
        raise partial.error from None
    yield from events
