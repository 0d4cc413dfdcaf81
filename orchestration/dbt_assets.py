"""The dbt project as Dagster assets: every model and seed is an asset, every
dbt test an asset check (through :class:`~orchestration.translator.KairosDbtTranslator`).

``dbt_project.yml`` sits at the repository root, so :class:`DbtProject`
points at the root. The manifest Dagster loads is Dagster's own
(``target/dagster/manifest.json``), kept apart from the ``target/`` that
``kairos.dbt.run_dbt`` and hand-run dbt commands rewrite; it is (re)built by
``dbt parse`` when it is missing or older than any file of the dbt project,
so a fresh clone, ``make ui`` and an edited model all just work.

The target needs no pinning here: ``profiles.yml`` reads ``KAIROS_TARGET``
when dbt runs, the same variable the Python side reads.
"""

# No `from __future__ import annotations` here: Dagster reads the Config and
# context annotations of decorated functions when they are defined.

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Config
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from pydantic import Field

from kairos.dbt import run_dbt
from kairos.settings import PROJECT_ROOT, load_settings
from kairos.warehouse import connect, qualified
from orchestration.resources import export_dbt_env
from orchestration.translator import KairosDbtTranslator

#: Dagster's manifest folder, relative to the project (see the module docstring).
DAGSTER_TARGET_PATH = Path("target") / "dagster"
#: What a manifest depends on: if any of these is newer, it is re-parsed.
_PROJECT_INPUTS = ("dbt_project.yml", "profiles.yml", "selectors.yml", "packages.yml", "dependencies.yml", "dbt_project")

DBT_PROJECT = DbtProject(
    project_dir=PROJECT_ROOT,
    profiles_dir=PROJECT_ROOT,
    target_path=DAGSTER_TARGET_PATH,
)


def _newest_input_mtime(root: Path = PROJECT_ROOT) -> float:
    newest = 0.0
    for name in _PROJECT_INPUTS:
        path = root / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for sub in path.rglob("*"):
                if sub.is_file() and sub.suffix in (".sql", ".yml", ".yaml", ".csv", ".md", ".py"):
                    newest = max(newest, sub.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject = DBT_PROJECT) -> bool:
    """Whether the manifest is missing or older than a file of the dbt project."""
    manifest = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_input_mtime(project.project_dir)


def prepare_manifest(project: DbtProject = DBT_PROJECT, force: bool = False) -> Path:
    """Run ``dbt parse`` into Dagster's target folder if the manifest is stale.

    ``KAIROS_DBT_SKIP_PARSE=1`` trusts whatever manifest is there (deployments
    that ship a manifest built in CI).
    """
    if os.environ.get("KAIROS_DBT_SKIP_PARSE") == "1" and project.manifest_path.exists():
        return project.manifest_path
    if force or manifest_is_stale(project):
        # `dagster dev` loads the code in several processes at once: parse once
        from filelock import FileLock

        project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(project.manifest_path.with_suffix(".lock"), timeout=300):
            if force or manifest_is_stale(project):
                run_dbt(["parse", "--quiet"], target_path=project.project_dir / project.target_path)
    return project.manifest_path


prepare_manifest()
#: when the loaded manifest's inputs last changed; see the check in kairos_dbt
_LOADED_INPUTS_MTIME = _newest_input_mtime()

TRANSLATOR = KairosDbtTranslator()


class DbtBuildConfig(Config):
    """Run configuration of ``dbt build``.

    ``now`` pins the decision time (dbt var ``kairos__now``), for replays and
    tests; empty means ``$KAIROS_NOW`` if set, else the warehouse clock.
    """

    now: str | None = Field(default=None, description="decision time, e.g. '2026-11-23 10:00:00' (UTC)")
    full_refresh: bool = Field(default=False, description="rebuild incremental models from scratch")
    unit_tests: bool = Field(
        default=False,
        description="also run dbt unit tests (they test SQL logic on fixtures, not data: CI runs them, `make test`)",
    )


def dbt_build_args(config: DbtBuildConfig | None = None) -> list[str]:
    """``dbt build`` plus ``--vars`` for the pinned decision time, if any.

    Unit tests are left out unless asked for: they are not asset checks,
    check code rather than data, and cost start-up time on every run.
    """
    args = ["build"]
    now = (config.now if config else None) or os.environ.get("KAIROS_NOW")
    if now:
        args += ["--vars", json.dumps({"kairos__now": now})]
    if config is not None and config.full_refresh:
        args.append("--full-refresh")
    if config is None or not config.unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    return args


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="kairos_dbt",
)
def kairos_dbt(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    """``dbt build`` of the selected models: materialisations, then dbt tests as checks."""
    if _newest_input_mtime() > _LOADED_INPUTS_MTIME:
        # dbt parses the files as they are now; a model or test added since the
        # definitions were loaded is unknown to them and dagster-dbt fails on it
        context.log.warning(
            "The dbt project changed since these definitions were loaded; if this run fails on an unknown "
            "dbt node, reload the definitions (UI: Deployment > Reload) and run again."
        )
    settings = load_settings()
    export_dbt_env(settings)
    from orchestration import dbt_inprocess

    if dbt_inprocess.enabled():
        yield from _build_in_process(context, dbt, config)
        return
    started = time.perf_counter()
    invocation = dbt.cli(dbt_build_args(config), context=context, target_path=invocation_target_path(context))
    events = invocation.stream()
    if settings.target != "duckdb":
        try:
            yield from with_table_metadata(events, context)
        finally:
            _log_timing(context, invocation, time.perf_counter() - started)
            keep_partial_parse(invocation.target_path)
        return
    # the dbt subprocess holds the DuckDB file while it runs: collect its
    # events, then add row counts and previews once it has let go (and pass
    # on what succeeded before a failure, then the failure)
    buffered: list[Any] = []
    error: BaseException | None = None
    try:
        for event in events:
            buffered.append(event)
    except Exception as exc:  # noqa: BLE001 - re-raised below
        error = exc
    timing = _log_timing(context, invocation, time.perf_counter() - started)
    keep_partial_parse(invocation.target_path)
    yield from with_table_metadata(buffered, context, {"dbt/timing": timing} if timing else None)
    if error is not None:
        raise error


def keep_partial_parse(target_path: Path) -> None:
    """Make an invocation's parse state the seed of the next invocations.

    dbt refuses a partial-parse file written under other vars, profile or
    target (the one ``dbt parse`` leaves for the manifest is one of those: its
    environment differs from a run's), so the latest run's state is the best
    seed: the second run of a configuration starts without parsing.
    """
    source = Path(target_path) / "partial_parse.msgpack"
    if not source.exists():
        return
    destination = DBT_PROJECT.project_dir / DAGSTER_TARGET_PATH / "partial_parse.msgpack"
    tmp = destination.with_name(f".partial_parse.{os.getpid()}.tmp")
    try:
        import shutil

        shutil.copy(source, tmp)
        os.replace(tmp, destination)
    except OSError:
        pass


@cache
def _manifest_json(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _build_in_process(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig) -> Iterator[Any]:
    """``dbt build`` with dbt kept in this process (see :mod:`orchestration.dbt_inprocess`)."""
    from dagster import Failure

    from orchestration import dbt_inprocess

    manifest_path = DBT_PROJECT.manifest_path
    manifest = _manifest_json(str(manifest_path), manifest_path.stat().st_mtime)
    target = invocation_target_path(context)
    error: Exception | None = None
    try:
        events, timing = dbt_inprocess.run(
            dbt_build_args(config), context=context, manifest_json=manifest, project=DBT_PROJECT,
            translator=TRANSLATOR, profiles_dir=str(dbt.profiles_dir or PROJECT_ROOT), target_path=target)
    except dbt_inprocess._Partial as partial:
        events, timing, error = partial.events, partial.timing, partial.error
    context.log.info(
        f"dbt (in process): {timing['nodes']} nodes, {timing['wall_s']:.1f} s wall = {timing['startup_s']:.1f} s "
        f"start-up + {timing['elapsed_s']:.1f} s running (kairos-timing {json.dumps(timing)})"
    )
    yield from with_table_metadata(events, context, {"dbt/timing": timing})
    if error is not None:
        raise Failure(description=str(error))


def invocation_target_path(context: AssetExecutionContext) -> Path:
    """A fresh target folder for one dbt invocation, seeded with the partial-parse
    file of Dagster's manifest.

    dagster-dbt gives every invocation its own target folder and seeds it
    from ``target/partial_parse.msgpack`` only, which hand-run dbt commands
    write, not :func:`prepare_manifest`; without it dbt parses the whole
    project on every run (10-20 s on two cores, most of the real-time path's
    latency). dbt still re-parses by itself whenever the project, the
    profile or the vars differ from the parsed state.
    """
    import shutil
    import uuid

    run = context.run.run_id[:8] if context.run else "norun"
    target = DBT_PROJECT.project_dir / DAGSTER_TARGET_PATH / "runs" / f"{context.op_execution_context.op.name}-{run}-{uuid.uuid4().hex[:6]}"
    target.mkdir(parents=True, exist_ok=True)
    partial = DBT_PROJECT.project_dir / DAGSTER_TARGET_PATH / "partial_parse.msgpack"
    if partial.exists():
        shutil.copy(partial, target / "partial_parse.msgpack")
    return target


def dbt_timing(invocation: Any, wall_s: float) -> dict[str, float] | None:
    """Where a dbt invocation's time went: ``wall_s`` (process start to end),
    ``elapsed_s`` (dbt's own run time from run_results.json: the queries and
    tests), ``startup_s`` (the rest: Python and dbt start-up, project load,
    partial parse, connections), ``nodes`` run."""
    try:
        results = invocation.get_artifact("run_results.json")
    except Exception:  # noqa: BLE001 - no artifact (dbt failed to start)
        return None
    elapsed = float(results.get("elapsed_time") or 0.0)
    return {
        "wall_s": round(wall_s, 3),
        "elapsed_s": round(elapsed, 3),
        "startup_s": round(max(wall_s - elapsed, 0.0), 3),
        "nodes": len(results.get("results") or []),
    }


def _log_timing(context: AssetExecutionContext, invocation: Any, wall_s: float) -> dict[str, float] | None:
    timing = dbt_timing(invocation, wall_s)
    if timing:
        context.log.info(
            f"dbt: {timing['nodes']} nodes, {timing['wall_s']:.1f} s wall = {timing['startup_s']:.1f} s start-up "
            f"+ {timing['elapsed_s']:.1f} s running (kairos-timing {json.dumps(timing)})"
        )
    return timing


#: layers whose tables get a preview (a few rows, personal data masked)
PREVIEW_LAYERS = frozenset({"triggers", "decisions", "segments", "syncs"})
PREVIEW_ROWS = 5
#: columns never shown in a preview
_PII = re.compile(r"email|phone|first_name|last_name|full_name|birthday|push_token|device_token|address|^ip$",
                  re.IGNORECASE)


def _relations() -> dict[Any, tuple[str, str, str]]:
    """asset key -> (schema, relation, materialized) of every dbt model."""
    from dagster import AssetKey

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    out: dict[Any, tuple[str, str, str]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        key = TRANSLATOR.get_asset_key(node)
        materialized = (node.get("config") or {}).get("materialized") or "table"
        out[AssetKey(key.path)] = (str(node.get("schema")), str(node.get("alias") or node["name"]), materialized)
    return out


_RELATIONS = _relations()


@cache
def _parents_by_key() -> dict[Any, frozenset[Any]]:
    """dbt model key -> keys of its direct dbt parents (models, seeds, snapshots; sources as raw keys)."""
    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    keys = {uid: TRANSLATOR.get_asset_key(node) for uid, node in nodes.items()
            if node.get("resource_type") in ("model", "seed", "snapshot", "source")}
    parents: dict[Any, frozenset[Any]] = {}
    for uid, node in manifest.get("nodes", {}).items():
        if uid in keys:
            parents[keys[uid]] = frozenset(keys[p] for p in (node.get("depends_on") or {}).get("nodes", []) if p in keys)
    return parents


def dbt_ancestors(key: Any) -> frozenset[Any]:
    """Every dbt (and raw source) asset upstream of a dbt model's key."""
    parents = _parents_by_key()
    seen: set[Any] = set()
    todo = list(parents.get(key, ()))
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(parents.get(parent, ()))
    return frozenset(seen)


def _preview_markdown(table: Any) -> str:
    columns = table.column_names
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table.to_pylist():
        cells = []
        for name in columns:
            value = row[name]
            text = "" if value is None else ("•••" if _PII.search(name) else str(value))
            cells.append(text.replace("|", "\\|").replace("\n", " ")[:60])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_metadata(wh: Any, key: Any) -> dict[str, Any]:
    """Row count (tables, and views of the syncs layer) and preview (activation layers) of a model."""
    from dagster import MetadataValue

    relation = _RELATIONS.get(key)
    if relation is None:
        return {}
    schema, name, materialized = relation
    layer = key.path[0]
    metadata: dict[str, Any] = {}
    if materialized in ("table", "incremental", "seed", "snapshot") or layer == "syncs":
        metadata["dagster/row_count"] = MetadataValue.int(
            int(wh.scalar(f"select count(*) from {qualified(schema, name)}")))
    if layer in PREVIEW_LAYERS:
        preview = wh.fetch_arrow(f"select * from {qualified(schema, name)} limit {PREVIEW_ROWS}")
        metadata["preview"] = MetadataValue.md(_preview_markdown(preview))
    return metadata


def with_table_metadata(events: Iterable[Any], context: AssetExecutionContext,
                        extra_metadata: dict[str, Any] | None = None) -> Iterator[Any]:
    """Pass dbt's events through, adding :func:`table_metadata` (and
    ``extra_metadata``) to each materialisation.

    Metadata is best effort: a failing count never fails the step.
    """
    from dagster import MetadataValue, Output

    extra_values = {k: MetadataValue.json(v) if isinstance(v, dict) else v for k, v in (extra_metadata or {}).items()}

    wh = None
    try:
        for event in events:
            if isinstance(event, Output):
                try:
                    if wh is None:
                        wh = connect(load_settings(), read_only=True)
                    key = context.asset_key_for_output(event.output_name)
                    extra = {**table_metadata(wh, key), **extra_values}
                    if extra:
                        event = event.with_metadata({**event.metadata, **extra})
                except Exception as exc:  # noqa: BLE001 - metadata is a convenience
                    context.log.debug(f"no table metadata for {event.output_name}: {exc}")
            yield event
    finally:
        if wh is not None:
            wh.close()
