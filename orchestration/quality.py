"""Great Expectations suites and source freshness as Dagster asset checks.

A suite is a GX 1.x ``ExpectationSuite`` serialised as JSON in
``expectations/`` (see ``expectations/README.md``); every file there becomes
one ``@asset_check`` (:func:`suite_checks`), configured by its
``meta.kairos`` block:

* ``asset_key``: the asset the check belongs to; ``check_name`` (default
  ``gx_<suite name>``); ``blocking`` (default true): a failed critical
  expectation stops every downstream asset of the run, so nothing reaches a
  channel (the circuit breaker); expectations with ``"severity": "warning"``
  fail the check with severity WARN, which reports but never blocks.
* what to validate, one of: ``table`` (``"raw.events"``: the table),
  ``query`` (SQL whose result is validated, for invariants that need a join,
  such as "no message intent without consent"), or ``volume`` (rows that
  arrived in the last window against the trailing average of the windows
  before it; each measurement is recorded in ``ops.quality_volumes``).
* ``batch_scope`` (tables only): in runs tagged ``kairos/quality_scope=batch``
  (the real-time job) only the rows this run appended from the landing zone
  are validated (:func:`kairos.landing.loaded_batch`), so a micro-batch costs
  a micro-validation; other runs validate the whole table.
* ``realtime`` (default true): whether the check runs in the real-time job.

Frames are read through :mod:`kairos.warehouse` (DuckDB or PostgreSQL) into
pandas (nullable dtypes: ``StringDtype``, ``Int64``, ``boolean``) and
validated with GX's pandas data source: GX 1.x cannot validate DuckDB
through SQLAlchemy, and ``dagster-ge`` needs GX < 1. Only the columns the
expectations name are read, unless the suite checks the column set.
Expectation parameters (``{"$PARAMETER": "now_plus_tolerance"}``) are
``now`` and ``now_plus_tolerance`` (10 minutes later), from ``$KAIROS_NOW``
or the clock.

Every check attaches its results (per expectation: success, unexpected
count and percent, observed value; for value sets the most frequent
unexpected values) and, when Data Docs are on, the path of the GX Data Docs
page; Data Docs are built into ``$KAIROS_GX_DOCS_DIR`` (default
``<repo>/gx_data_docs``) by a file-backed GX context (``KAIROS_GX_DATA_DOCS``:
``always``, ``failures`` (default: only failed validations), ``off``).

Source freshness (:func:`freshness_checks`): one non-blocking check per raw
table whose dbt source declares ``freshness`` thresholds, on the lag of its
newest ``loaded_at_field`` value.

``great_expectations`` is imported inside the checks only: the import costs
seconds, which the definitions (UI, every test) should not pay.
"""

# No `from __future__ import annotations` here: Dagster reads the Config and
# context annotations of decorated functions when they are defined.

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    MetadataValue,
    asset_check,
)

from kairos.settings import PROJECT_ROOT
from kairos.warehouse import Warehouse, qualified, quote_ident
from orchestration.raw_assets import QUALITY_SCOPE_TAG, RawTable, freshness_of, raw_contract, reference_now
from orchestration.resources import WarehouseResource

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DOCS_DIR_ENV = "KAIROS_GX_DOCS_DIR"
DOCS_MODE_ENV = "KAIROS_GX_DATA_DOCS"
VOLUME_TABLE = ("ops", "quality_volumes")
#: run tag with the raw high-water marks a run starts from (set by the raw-tables sensor)
RAW_SINCE_TAG = "kairos/raw_since"
#: tolerance of "no timestamps in the future" (clocks of collectors drift)
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
#: Expectation types whose unexpected values are categories worth showing
#: (event names, sources); values of other columns may be personal data and
#: never leave the warehouse through check metadata.
_SHOW_UNEXPECTED_VALUES = frozenset({"expect_column_values_to_be_in_set"})
_TOP_UNEXPECTED = 5
#: expectations that look at the set of columns: the whole table must be read
_TABLE_SHAPE = frozenset({
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
})
_DOCS_LOCK = threading.Lock()


# -- suites -------------------------------------------------------------------------

def load_suite(path: Path | str) -> dict[str, Any]:
    """A suite JSON file as a dict (``name``, ``expectations``, ``meta``)."""
    path = Path(path)
    suite = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(suite, dict) or not suite.get("name") or not isinstance(suite.get("expectations"), list):
        raise ValueError(f"{path}: not a Great Expectations suite (needs 'name' and an 'expectations' list)")
    return suite


def suite_meta(suite: Mapping[str, Any]) -> dict[str, Any]:
    """``meta.kairos`` of a suite (empty dict when missing)."""
    return dict((suite.get("meta") or {}).get("kairos") or {})


def suite_table(suite: Mapping[str, Any]) -> tuple[str, str]:
    """``(schema, table)`` a table suite validates, from ``meta.kairos.table`` (``"raw.events"``)."""
    meta = suite_meta(suite)
    target = meta.get("table") or (meta.get("volume") or {}).get("table") or ""
    schema, _, table = str(target).partition(".")
    if not schema or not table:
        raise ValueError(f"suite {suite.get('name')!r}: meta.kairos.table must be '<schema>.<table>'")
    return schema, table


def suite_kind(suite: Mapping[str, Any]) -> str:
    """``table``, ``query`` or ``volume``."""
    meta = suite_meta(suite)
    kinds = [k for k in ("table", "query", "volume") if meta.get(k)]
    if len(kinds) != 1:
        raise ValueError(f"suite {suite.get('name')!r}: meta.kairos needs exactly one of table, query, volume")
    return kinds[0]


def suite_asset_key(suite: Mapping[str, Any]) -> AssetKey:
    """The asset a suite's check belongs to (``meta.kairos.asset_key``, else its table)."""
    meta = suite_meta(suite)
    if meta.get("asset_key"):
        return AssetKey(list(meta["asset_key"]))
    return AssetKey(list(suite_table(suite)))


def suite_check_name(suite: Mapping[str, Any]) -> str:
    return str(suite_meta(suite).get("check_name") or f"gx_{suite['name']}")


def expectation_parameters(now: dt.datetime | None = None) -> dict[str, Any]:
    """Values for ``{"$PARAMETER": ...}`` in suites."""
    import pandas as pd

    now = now or reference_now()
    return {"now": pd.Timestamp(now), "now_plus_tolerance": pd.Timestamp(now + FUTURE_TOLERANCE)}


# -- frames --------------------------------------------------------------------------

def _referenced_columns(suite: Mapping[str, Any]) -> list[str] | None:
    """Columns the expectations name; None when the whole table is needed."""
    columns: list[str] = []
    for e in suite["expectations"]:
        if e["type"] in _TABLE_SHAPE:
            return None
        kwargs = e.get("kwargs") or {}
        for key in ("column", "column_A", "column_B"):
            if kwargs.get(key):
                columns.append(kwargs[key])
        for key in ("column_list",):
            columns.extend(kwargs.get(key) or [])
    return list(dict.fromkeys(columns))


def to_pandas(table: Any) -> Any:
    """Arrow -> pandas with nullable dtypes GX can type-check (str, Int64, boolean)."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(),
        pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return table.to_pandas(types_mapper=mapping.get)


def read_table(wh: Warehouse, schema: str, table: str, columns: Sequence[str] | None = None,
               order_by: str | None = None, limit: int | None = None) -> Any:
    """The table (or some of its columns; or its ``limit`` last rows by
    ``order_by``) as a pandas DataFrame (Arrow in between)."""
    existing = wh.columns(schema, table)
    wanted = [c for c in columns if c in existing] if columns is not None else existing
    select = ", ".join(quote_ident(c) for c in wanted) if wanted else "*"
    sql = f"select {select} from {qualified(schema, table)}"
    if order_by and limit and order_by in existing:
        sql += f" order by {quote_ident(order_by)} desc nulls last limit {int(limit)}"
    return to_pandas(wh.fetch_arrow(sql))


def ensure_volume_table(wh: Warehouse) -> None:
    wh.ensure_schema(VOLUME_TABLE[0])
    wh.execute(
        f"create table if not exists {qualified(*VOLUME_TABLE)} (table_name text not null, "
        "measured_at timestamp not null, window_hours double precision, window_rows bigint, "
        "trailing_windows integer, trailing_avg double precision, ratio double precision, recorded_at timestamp)"
    )


def volume_frame(wh: Warehouse, spec: Mapping[str, Any], now: dt.datetime | None = None,
                 record: bool = True) -> Any:
    """One row: rows that arrived in the last window, the trailing average of the
    windows before it (only windows after the table's first row count) and their
    ratio. Recorded in ``ops.quality_volumes`` when ``record``."""
    import pandas as pd

    schema, _, table = str(spec["table"]).partition(".")
    column = quote_ident(str(spec.get("timestamp", "received_at")))
    hours = float(spec.get("window_hours", 24))
    trailing = int(spec.get("trailing_windows", 7))
    now = now or reference_now()
    window = dt.timedelta(hours=hours)
    bounds = [now - window * k for k in range(trailing + 2)]  # bounds[0] = now
    parts = ", ".join(
        f"count(case when {column} > ? and {column} <= ? then 1 end)" for _ in range(trailing + 1)
    )
    params: list[Any] = []
    for k in range(trailing + 1):
        params += [bounds[k + 1], bounds[k]]
    row = wh.fetchall(
        f"select {parts}, min({column}) from {qualified(schema, table)} where {column} > ?",
        [*params, bounds[-1] - window * 365],
    )[0]
    counts, first = [int(c) for c in row[:-1]], row[-1]
    current = counts[0]
    history = [c for k, c in enumerate(counts[1:], start=1) if first is not None and bounds[k + 1] >= first]
    trailing_avg = sum(history) / len(history) if history else None
    ratio = (current / trailing_avg) if trailing_avg else None
    if record:
        ensure_volume_table(wh)
        wh.execute(
            f"insert into {qualified(*VOLUME_TABLE)} values (?, ?, ?, ?, ?, ?, ?, ?)",
            [f"{schema}.{table}", now, hours, current, len(history), trailing_avg, ratio,
             dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)],
        )
    return pd.DataFrame({
        "table_name": pd.array([f"{schema}.{table}"], dtype="string"),
        "window_rows": pd.array([current], dtype="Int64"),
        "trailing_windows": pd.array([len(history)], dtype="Int64"),
        "trailing_avg": [trailing_avg if trailing_avg is not None else float("nan")],
        "ratio": [ratio if ratio is not None else float("nan")],
    })


def read_frame(wh: Warehouse, suite: Mapping[str, Any], *, scope: str = "table",
               run_id: str | None = None, since: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """The DataFrame a suite validates and a description of what it is.

    Returns ``(None, reason)`` when there is nothing to validate (a batch-scoped
    run that loaded no rows for the table).
    """
    kind = suite_kind(suite)
    meta = suite_meta(suite)
    if kind == "query":
        return to_pandas(wh.fetch_arrow(str(meta["query"]))), "query result"
    if kind == "volume":
        return volume_frame(wh, meta["volume"]), f"volume of {meta['volume']['table']}"
    schema, table = suite_table(suite)
    if not wh.table_exists(schema, table):
        raise LookupError(f"{schema}.{table} does not exist")
    columns = _referenced_columns(suite)
    if scope == "batch" and meta.get("batch_scope") and run_id:
        from kairos.landing import loaded_batch

        batch = loaded_batch(wh, table, run_id) if schema == "raw" else None
        order_by = (meta.get("recent") or {}).get("order_by")
        if batch is None and since and table in since and order_by:
            # rows ingestion wrote since the sensor's previous high-water mark
            cols = ", ".join(quote_ident(c) for c in (columns or wh.columns(schema, table)))
            frame = to_pandas(wh.fetch_arrow(
                f"select {cols} from {qualified(schema, table)} where {quote_ident(order_by)} > ?",
                [since[table]]))
            return frame, f"the {len(frame)} row(s) of {schema}.{table} newer than {since[table]}"
        if batch is None:
            return None, f"no rows loaded into {schema}.{table} by this run"
        if columns is not None:
            batch = batch.select([c for c in columns if c in batch.column_names])
        return to_pandas(batch), f"the {batch.num_rows} row(s) this run loaded into {schema}.{table}"
    recent = meta.get("recent") or {}
    if recent.get("order_by") and recent.get("rows"):
        # a feed is judged on what arrived lately: bounded cost however long the history
        limit = int(recent["rows"])
        df = read_table(wh, schema, table, columns, order_by=str(recent["order_by"]), limit=limit)
        whole = len(df) < limit
        return df, f"{schema}.{table}" if whole else f"the {limit:,} most recent rows of {schema}.{table}"
    return read_table(wh, schema, table, columns), f"{schema}.{table}"


# -- validation ---------------------------------------------------------------------------

def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _gx_suite(suite: Mapping[str, Any]) -> Any:
    gx = _gx()
    return gx.ExpectationSuite(
        name=str(suite["name"]),
        expectations=[dict(e) for e in suite["expectations"]],
        meta=dict(suite.get("meta") or {}),
    )


_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def validate_dataframe(df: Any, suite: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> Any:
    """Validate a DataFrame against a suite dict in an ephemeral context; GX's result."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = str(suite["name"])
    batch = (
        context.data_sources.add_pandas(f"kairos_{name}")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole_table")
        .get_batch(batch_parameters={"dataframe": df})
    )
    return batch.validate(_gx_suite(suite), result_format=_RESULT_FORMAT,
                          expectation_parameters=dict(parameters or expectation_parameters()))


def docs_dir() -> Path:
    """Where the GX file context and its Data Docs live."""
    value = os.environ.get(DOCS_DIR_ENV, "").strip()
    return Path(value).resolve() if value else PROJECT_ROOT / "gx_data_docs"


def docs_mode() -> str:
    mode = os.environ.get(DOCS_MODE_ENV, "failures").strip().lower() or "failures"
    return mode if mode in ("always", "failures", "off") else "failures"


def validate_with_docs(df: Any, suite: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
    """Validate through a file-backed GX context that stores the result and
    updates the Data Docs; returns ``(result, path of the validation's page)``."""
    gx = _gx()
    from filelock import FileLock
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = docs_dir()
    root.mkdir(parents=True, exist_ok=True)
    name = str(suite["name"])
    with _DOCS_LOCK, FileLock(str(root / ".gx.lock"), timeout=120):
        context = gx.get_context(mode="file", project_root_dir=str(root))
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        try:
            source = context.data_sources.get("kairos")
        except (KeyError, ValueError, LookupError):
            source = context.data_sources.add_pandas("kairos")
        try:
            asset = source.get_asset(name)
        except (KeyError, ValueError, LookupError):
            asset = source.add_dataframe_asset(name)
        try:
            batch_definition = asset.get_batch_definition("whole_table")
        except (KeyError, ValueError, LookupError):
            batch_definition = asset.add_batch_definition_whole_dataframe("whole_table")
        gx_suite = context.suites.add_or_update(_gx_suite(suite))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(data=batch_definition, suite=gx_suite, name=name))
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(name=name, validation_definitions=[definition], result_format=_RESULT_FORMAT,
                          actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")]))
        run = checkpoint.run(batch_parameters={"dataframe": df},
                             expectation_parameters=dict(parameters or expectation_parameters()))
        identifier, result = next(iter(run.run_results.items()))
        page = None
        try:
            urls = context.get_docs_sites_urls(resource_identifier=identifier)
            page = urls[0]["site_url"] if urls else None
        except Exception:  # noqa: BLE001 - the link is a convenience
            page = None
        return result, page


def _severity(result: Any) -> str:
    severity = getattr(result.expectation_config, "severity", "critical")
    return str(getattr(severity, "value", severity)).lower()


def summarise(validation: Any, df: Any = None) -> list[dict[str, Any]]:
    """One plain dict per expectation: type, column, success, unexpected counts.

    With the validated DataFrame, set expectations also get their most
    frequent unexpected values with exact counts (GX only returns a sample).
    """
    rows: list[dict[str, Any]] = []
    for r in validation.results:
        config = r.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        res = r.result or {}
        row: dict[str, Any] = {
            "expectation": config.type,
            "column": kwargs.get("column") or ("/".join(str(kwargs.get(k)) for k in ("column_A", "column_B"))
                                               if kwargs.get("column_A") else None),
            "success": bool(r.success),
            "severity": _severity(r),
        }
        notes = (config.meta or {}).get("notes") if getattr(config, "meta", None) else None
        if notes:
            row["notes"] = str(notes)[:300]
        if "mostly" in kwargs:
            row["mostly"] = kwargs["mostly"]
        for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
            if res.get(key) is not None:
                value = res[key]
                row[key] = round(float(value), 3) if key == "unexpected_percent" else int(value)
        if "observed_value" in res:
            row["observed_value"] = _jsonable(res["observed_value"])
        details = (res.get("details") or {}).get("mismatched")
        if details:
            row["mismatched"] = _jsonable(details)
        if config.type in _SHOW_UNEXPECTED_VALUES and df is not None and res.get("unexpected_count"):
            row["top_unexpected"] = _top_unexpected(df, kwargs)
        info = r.exception_info or {}
        if info.get("raised_exception"):
            row["success"] = False
            row["error"] = str(info.get("exception_message"))[:500]
        rows.append(row)
    return rows


def _top_unexpected(df: Any, kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    column = kwargs.get("column")
    if column not in df.columns:
        return []
    values = df[column]
    unexpected = values[values.notna() & ~values.isin(list(kwargs.get("value_set") or []))]
    counts = unexpected.astype(str).value_counts().head(_TOP_UNEXPECTED)
    return [{"value": str(v), "count": int(n)} for v, n in counts.items()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return None if value != value else value  # NaN -> null
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| expectation | column | result | unexpected | % |", "|---|---|---|---|---|"]
    for row in rows:
        verdict = "pass" if row["success"] else ("**FAIL**" if row["severity"] == "critical" else "warn")
        pct = row.get("unexpected_percent")
        lines.append(
            f"| {row['expectation']} | {row.get('column') or ''} | {verdict} | "
            f"{row.get('unexpected_count', '')} | {'' if pct is None else f'{pct:.2f}'} |"
        )
    return "\n".join(lines)


def validate_table(
    suite_path: Path | str,
    warehouse: WarehouseResource | None = None,
    asset_key: AssetKey | None = None,
    *,
    scope: str = "table",
    run_id: str | None = None,
    since: Mapping[str, str] | None = None,
    data_docs: str | None = None,
) -> AssetCheckResult:
    """Validate a suite's frame (table, batch, query or volume) and return the check result.

    Passed when every expectation succeeded. A failed critical expectation
    gives severity ERROR (blocks downstream assets when the check is
    blocking); only failed ``warning`` expectations give WARN. The metadata
    holds the per-expectation summary, totals, a readable table and, with
    Data Docs on, the page of this validation.
    """
    suite = load_suite(suite_path)
    asset_key = asset_key or suite_asset_key(suite)
    mode = data_docs or docs_mode()
    warehouse = warehouse or WarehouseResource()
    started = time.perf_counter()
    try:
        # a volume measurement is recorded, so it needs a writable connection
        with warehouse.connect(read_only=suite_kind(suite) != "volume") as wh:
            df, scope_text = read_frame(wh, suite, scope=scope, run_id=run_id, since=since)
    except Exception as exc:  # noqa: BLE001 - a check that cannot read its data fails, with the reason
        return AssetCheckResult(
            asset_key=asset_key,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=f"cannot read the data of suite {suite['name']}: {exc}"[:1000],
            metadata={"suite": MetadataValue.text(str(suite["name"]))},
        )
    if df is None:
        return AssetCheckResult(
            asset_key=asset_key,
            passed=True,
            description=f"nothing to validate: {scope_text}",
            metadata={"suite": MetadataValue.text(str(suite["name"])), "scope": MetadataValue.text(scope_text),
                      "dagster/row_count": MetadataValue.int(0)},
        )
    read_s = time.perf_counter() - started
    parameters = expectation_parameters()
    page = None
    if mode == "always":
        validation, page = validate_with_docs(df, suite, parameters)
    else:
        validation = validate_dataframe(df, suite, parameters)
        if mode == "failures" and not validation.success:
            validation, page = validate_with_docs(df, suite, parameters)
    rows = summarise(validation, df)
    failed = [r for r in rows if not r["success"]]
    critical = [r for r in failed if r["severity"] == "critical"]
    passed = not failed
    description = (
        f"{len(rows) - len(failed)}/{len(rows)} expectations met on {scope_text}"
        if passed
        else f"failed on {scope_text}: " + "; ".join(
            f"{r['expectation']}({r.get('column') or ''})"
            + (f" {r['unexpected_percent']:.1f}% unexpected" if r.get("unexpected_percent") else "")
            + (f" observed {r['observed_value']}" if "observed_value" in r and not r.get("unexpected_percent") else "")
            for r in failed)
    )
    metadata = {
        "suite": MetadataValue.text(str(suite["name"])),
        "scope": MetadataValue.text(scope_text),
        "dagster/row_count": MetadataValue.int(len(df)),
        "evaluated_expectations": MetadataValue.int(len(rows)),
        "failed_expectations": MetadataValue.int(len(failed)),
        "failed_critical_expectations": MetadataValue.int(len(critical)),
        "results": MetadataValue.json(rows),
        "summary": MetadataValue.md(_markdown(rows)),
        "read_seconds": MetadataValue.float(round(read_s, 3)),
        "validate_seconds": MetadataValue.float(round(time.perf_counter() - started - read_s, 3)),
    }
    if suite_kind(suite) == "table":
        metadata["table"] = MetadataValue.text(".".join(suite_table(suite)))
    if page:
        metadata["data_docs"] = MetadataValue.url(page) if page.startswith("file:") else MetadataValue.path(page)
    return AssetCheckResult(
        asset_key=asset_key,
        passed=passed,
        severity=AssetCheckSeverity.ERROR if critical or passed else AssetCheckSeverity.WARN,
        description=description[:1000],
        metadata=metadata,
    )


# -- checks -------------------------------------------------------------------------------

def build_suite_check(
    suite_path: Path | str, asset_key: AssetKey | None = None, *, name: str | None = None,
    blocking: bool | None = None,
) -> AssetChecksDefinition:
    """An ``@asset_check`` that runs the suite in ``suite_path`` (defaults from ``meta.kairos``)."""
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    meta = suite_meta(suite)
    asset_key = asset_key or suite_asset_key(suite)
    check_name = name or suite_check_name(suite)
    blocking = bool(meta.get("blocking", True)) if blocking is None else blocking
    shown = suite_path.relative_to(PROJECT_ROOT) if suite_path.is_relative_to(PROJECT_ROOT) else suite_path
    what = {"table": f"table `{meta.get('table')}`", "query": "a query (see the suite)",
            "volume": f"the volume of `{(meta.get('volume') or {}).get('table')}`"}[suite_kind(suite)]

    @asset_check(
        asset=asset_key,
        name=check_name,
        blocking=blocking,
        description=(
            f"Great Expectations suite `{suite['name']}` ({len(suite['expectations'])} expectations on {what}, "
            f"`{shown}`). "
            + ("**Blocking**: a failed critical expectation stops everything downstream (no sync runs)."
               if blocking else "Warning only: reports, never blocks.")
            + (" In real-time runs it validates only the rows the run loaded." if meta.get("batch_scope") else "")
            + (f"\n\n{(suite.get('meta') or {}).get('notes')}" if (suite.get("meta") or {}).get("notes") else "")
        ),
        metadata={"suite": suite["name"], "suite_path": str(shown), "kairos/blocking": blocking,
                  "kairos/realtime": bool(meta.get("realtime", True))},
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        tags = context.op_execution_context.run.tags
        since = json.loads(tags[RAW_SINCE_TAG]) if tags.get(RAW_SINCE_TAG) else None
        result = validate_table(suite_path, warehouse, asset_key, scope=tags.get(QUALITY_SCOPE_TAG, "table"),
                                run_id=context.op_execution_context.run_id, since=since)
        if result.passed:
            context.log.info(result.description or "")
        else:
            context.log.warning(
                ("CIRCUIT BREAKER: " if blocking and result.severity == AssetCheckSeverity.ERROR else "")
                + (result.description or "")
            )
        return result

    return _check


def suite_paths(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    """Every suite file, sorted."""
    return sorted(directory.glob("*.json"))


def suite_checks(directory: Path = EXPECTATIONS_DIR) -> list[AssetChecksDefinition]:
    """One check per suite file in ``expectations/``."""
    return [build_suite_check(path) for path in suite_paths(directory)]


def realtime_excluded_check_keys(checks: Sequence[AssetChecksDefinition]) -> list[Any]:
    """Check keys marked ``kairos/realtime: false`` (left out of the real-time job)."""
    keys = []
    for check in checks:
        for spec in check.check_specs:
            if spec.metadata.get("kairos/realtime") is False:
                keys.append(spec.key)
    return keys


def build_freshness_check(table: RawTable) -> AssetChecksDefinition:
    """A non-blocking check of a raw table's source freshness (dbt thresholds)."""
    warn_h, error_h = table.warn_after_hours, table.error_after_hours

    @asset_check(
        asset=table.asset_key,
        name="source_freshness",
        blocking=False,
        description=(
            f"Source freshness of `raw.{table.identifier}`: lag of the newest `{table.loaded_at_field}` "
            f"(dbt source freshness: warn after {warn_h or '-'} h, error after {error_h or '-'} h). "
            "Stale data is reported, not blocked: it is old, not wrong."
        ),
        metadata={"kairos/realtime": False},
    )
    def _check(warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connect(read_only=True) as wh:
            fresh = freshness_of(wh, table)
        if fresh is None or fresh["lag_minutes"] is None:
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    description=f"raw.{table.identifier} is missing or empty")
        lag_h = fresh["lag_minutes"] / 60
        status = "ok"
        if error_h is not None and lag_h > error_h:
            status = "error"
        elif warn_h is not None and lag_h > warn_h:
            status = "warn"
        return AssetCheckResult(
            passed=status == "ok",
            severity=AssetCheckSeverity.ERROR if status == "error" else AssetCheckSeverity.WARN,
            description=f"newest {table.loaded_at_field} {fresh['max_loaded_at']} is {lag_h:.1f} h old ({status})",
            metadata={
                "freshness/lag_minutes": MetadataValue.float(float(fresh["lag_minutes"])),
                "freshness/max_loaded_at": MetadataValue.text(str(fresh["max_loaded_at"])),
                "freshness/status": MetadataValue.text(status),
            },
        )

    return _check


def freshness_checks() -> list[AssetChecksDefinition]:
    """One freshness check per raw table with dbt freshness thresholds."""
    return [build_freshness_check(t) for t in raw_contract()
            if t.loaded_at_field and (t.warn_after_hours or t.error_after_hours)]


SUITE_CHECKS = suite_checks()
FRESHNESS_CHECKS = freshness_checks()
ALL_CHECKS = [*SUITE_CHECKS, *FRESHNESS_CHECKS]
