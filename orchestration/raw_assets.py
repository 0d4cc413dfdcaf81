"""The raw tables as Dagster assets, their loader, and the sample-shop generator.

Every table of the raw contract (the dbt sources in
``dbt_project/models/staging/*/_*__sources.yml``) is an asset keyed
``["raw", <table>]``: the same keys the dbt translator gives the sources, so
the dbt models hang off them. They are all materialised by one multi-asset,
``raw_tables``, the loader of the landing zone (:mod:`kairos.landing`): it
appends every file waiting in ``$KAIROS_LANDING_DIR`` to its table (exactly
once, malformed files rejected with a reason) and reports, per table, the
rows appended, the row count, the column types and the source freshness
(lag of the newest ``loaded_at_field`` value, thresholds from the dbt
``freshness`` config). In production, ingestion tools may also write the
raw schema directly; the loader then still reports what is there.

``["raw", "sample_shop"]`` (op ``raw_sample_shop``) is the embedded default's
data source: :func:`kairos.generator.generate_and_load` (re)creates every raw
table with a synthetic shop. The raw tables depend on it, so the demo job
runs generator -> loader -> checks -> dbt -> syncs; the refresh and real-time
jobs leave it out.
"""

# No `from __future__ import annotations` here: Dagster reads the Config and
# context annotations of decorated functions when they are defined.

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from kairos.settings import PROJECT_ROOT
from kairos.warehouse import Warehouse, qualified, quote_ident
from orchestration.resources import WarehouseResource
from orchestration.translator import RAW_SCHEMA

RAW_GROUP = "raw"
SOURCES_GLOB = "dbt_project/models/staging/*/_*__sources.yml"
SAMPLE_SHOP_KEY = AssetKey([RAW_SCHEMA, "sample_shop"])
#: run tag naming the loader's rows a check should validate (set by the real-time job)
QUALITY_SCOPE_TAG = "kairos/quality_scope"

_PERIOD_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}


@dataclass(frozen=True)
class RawTable:
    """One table of the raw contract."""

    source: str  # dbt source name (shop, crm, messaging)
    name: str  # dbt source table name
    identifier: str  # table name in the raw schema
    description: str
    columns: tuple[tuple[str, str], ...]  # (name, description)
    loaded_at_field: str | None = None  # dbt's loaded_at_field: when a row landed
    warn_after_hours: float | None = None  # dbt freshness thresholds
    error_after_hours: float | None = None

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey([RAW_SCHEMA, self.identifier])


def _hours(threshold: Any) -> float | None:
    if not isinstance(threshold, Mapping) or threshold.get("count") is None:
        return None
    return float(threshold["count"]) * _PERIOD_HOURS.get(str(threshold.get("period", "hour")), 1.0)


def _freshness(node: Mapping[str, Any]) -> Mapping[str, Any]:
    # dbt accepts `freshness:` on the node or (1.9+) under `config:`
    return node.get("freshness") or (node.get("config") or {}).get("freshness") or {}


@cache
def raw_contract(root: Path = PROJECT_ROOT) -> tuple[RawTable, ...]:
    """The raw tables declared as dbt sources, in file order."""
    tables: list[RawTable] = []
    for path in sorted(root.glob(SOURCES_GLOB)):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source in doc.get("sources", []):
            for table in source.get("tables", []):
                freshness = _freshness(table) or _freshness(source)
                tables.append(
                    RawTable(
                        source=source["name"],
                        name=table["name"],
                        identifier=table.get("identifier", table["name"]),
                        description=" ".join((table.get("description") or "").split()),
                        columns=tuple(
                            (c["name"], " ".join((c.get("description") or "").split()))
                            for c in table.get("columns", [])
                        ),
                        loaded_at_field=table.get("loaded_at_field") or source.get("loaded_at_field"),
                        warn_after_hours=_hours(freshness.get("warn_after")),
                        error_after_hours=_hours(freshness.get("error_after")),
                    )
                )
    return tuple(tables)


def raw_asset_keys() -> list[AssetKey]:
    """Keys of every raw table asset."""
    return [t.asset_key for t in raw_contract()]


def raw_table(key: AssetKey) -> RawTable:
    """The contract entry of a raw asset key."""
    return next(t for t in raw_contract() if t.asset_key == key)


def reference_now() -> dt.datetime:
    """The time freshness and volume are measured against: ``$KAIROS_NOW``
    (pinned replays and tests, like dbt's ``kairos__now``), else now (UTC, naive)."""
    pinned = os.environ.get("KAIROS_NOW", "").strip()
    if pinned:
        text = pinned[:-1] + "+00:00" if pinned.endswith("Z") else pinned
        value = dt.datetime.fromisoformat(text)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def freshness_of(wh: Warehouse, table: RawTable, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Newest ``loaded_at_field`` value and its lag in minutes; None without a
    loaded_at_field or when the table or column is missing."""
    if not table.loaded_at_field or not wh.table_exists(RAW_SCHEMA, table.identifier):
        return None
    if table.loaded_at_field not in wh.columns(RAW_SCHEMA, table.identifier):
        return None
    newest = wh.scalar(
        f"select max({quote_ident(table.loaded_at_field)}) from {qualified(RAW_SCHEMA, table.identifier)}"
    )
    if newest is None:
        return {"max_loaded_at": None, "lag_minutes": None}
    if isinstance(newest, str):
        newest = dt.datetime.fromisoformat(newest)
    if getattr(newest, "tzinfo", None) is not None:
        newest = newest.astimezone(dt.timezone.utc).replace(tzinfo=None)
    lag = ((now or reference_now()) - newest).total_seconds() / 60
    return {"max_loaded_at": newest.isoformat(sep=" "), "lag_minutes": round(lag, 1)}


def _spec(table: RawTable) -> AssetSpec:
    freshness = ""
    if table.loaded_at_field:
        freshness = f" Freshness from `{table.loaded_at_field}`"
        if table.warn_after_hours or table.error_after_hours:
            freshness += (f": warn after {table.warn_after_hours:g} h, error after "
                          f"{table.error_after_hours:g} h (dbt source freshness)." if table.error_after_hours
                          else f": warn after {table.warn_after_hours:g} h (dbt source freshness).")
        else:
            freshness += " (shown as metadata; no dbt freshness thresholds)."
    return AssetSpec(
        key=table.asset_key,
        deps=[SAMPLE_SHOP_KEY],
        description=(
            f"{table.description}\n\nRaw contract: dbt source `{table.source}.{table.name}`. Appended from the "
            f"landing zone (files named `{table.identifier}*.jsonl|csv|parquet`) by `raw_tables`; recreated by "
            f"the sample-shop generator in the demo.{freshness}"
        ),
        group_name=RAW_GROUP,
        kinds={"python", "files"},
        owners=["team:data-platform"],
        tags={"layer": RAW_GROUP},
        metadata={
            "dagster/table_name": f"{RAW_SCHEMA}.{table.identifier}",
            "dagster/column_schema": TableSchema(
                # the contract documents columns, not types: materialisations carry the types
                columns=[TableColumn(name=n, type="as loaded", description=d or None) for n, d in table.columns]
            ),
            **({"freshness/loaded_at_field": table.loaded_at_field} if table.loaded_at_field else {}),
        },
    )


class SampleShopConfig(Config):
    """How much of the sample shop to generate."""

    customers: int = Field(default=2_000, description="number of people")
    days: int = Field(default=90, description="days of history")
    seed: int = Field(default=42, description="random seed (same seed, same shop)")
    end: str | None = Field(default=None, description="end of the history, ISO timestamp (default: now, to the hour)")


@multi_asset(
    name="raw_sample_shop",
    specs=[
        AssetSpec(
            key=SAMPLE_SHOP_KEY,
            group_name=RAW_GROUP,
            kinds={"python"},
            owners=["team:data-platform"],
            tags={"layer": RAW_GROUP},
            description=(
                "The sample shop: kairos.generator creates a deterministic, messy e-commerce history (customers, "
                "events, orders, catalog, consents, contact history) and loads it into the raw schema, replacing "
                "every raw table. The embedded default's data source; in production raw data arrives through "
                "the landing zone or ingestion tools and this asset is not run."
            ),
        )
    ],
)
def raw_sample_shop(config: SampleShopConfig, warehouse: WarehouseResource) -> MaterializeResult:
    """Generate and load every raw table (replace); rows per table as metadata."""
    from kairos.generator import generate_and_load

    settings = warehouse.settings()
    summary = generate_and_load(
        customers=config.customers, days=config.days, seed=config.seed, end=config.end, settings=settings
    )
    counts = {str(name).split(".")[-1]: int(rows) for name, rows in summary.items() if _is_raw(str(name))}
    return MaterializeResult(
        metadata={
            "rows_by_table": MetadataValue.json(counts),
            "dagster/row_count": MetadataValue.int(sum(counts.values())),
            "warehouse": MetadataValue.text(settings.target),
            "generator": MetadataValue.json(
                {"customers": config.customers, "days": config.days, "seed": config.seed, "end": config.end}
            ),
        }
    )


@multi_asset(
    name="raw_tables",
    specs=[_spec(t) for t in raw_contract()],
    can_subset=True,
    description=(
        "Loads the landing zone into the raw tables (append, exactly once per file; malformed files go to "
        "landing/rejected/ with a reason) and reports every raw table: rows appended, row count, column types, "
        "freshness."
    ),
)
def raw_tables(context: AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[MaterializeResult]:
    """Append landed files, then one materialisation per selected raw table."""
    from kairos.landing import load_landing

    settings = warehouse.settings()
    with warehouse.connect() as wh:
        report = load_landing(settings, wh=wh, run_id=context.run.run_id)
    context.log.info(f"landing zone {settings.landing_dir}: {report.summary()}")
    for rejected in report.rejected:
        context.log.warning(f"rejected {rejected.file_name}: {rejected.reason} (moved to {rejected.moved_to})")
    if report.rejected:
        from orchestration.alerts import post_alert

        post_alert(
            "landing_file_rejected",
            f"Kairos landing zone: {len(report.rejected)} file(s) rejected: "
            + "; ".join(f"{f.file_name}: {f.reason}" for f in report.rejected[:5]),
            run_id=context.run.run_id,
            files=[{"file": f.file_name, "table": f.table, "reason": f.reason} for f in report.rejected],
            log=context.log,
        )
    appended = report.rows_by_table()
    files_by_table: dict[str, list[str]] = {}
    for f in report.loaded:
        files_by_table.setdefault(str(f.table), []).append(f.file_name)
    now = reference_now()
    with warehouse.connect(read_only=True) as wh:
        types = _column_types(wh)
        for table in raw_contract():
            if table.asset_key not in context.selected_asset_keys:
                continue
            metadata: dict[str, Any] = {
                "rows_appended": MetadataValue.int(appended.get(table.identifier, 0)),
                "landing_files": MetadataValue.json(files_by_table.get(table.identifier, [])),
                "warehouse": MetadataValue.text(settings.target),
            }
            if wh.table_exists(RAW_SCHEMA, table.identifier):
                metadata["dagster/row_count"] = MetadataValue.int(
                    int(wh.scalar(f"select count(*) from {qualified(RAW_SCHEMA, table.identifier)}"))
                )
                described = dict(table.columns)
                columns = [TableColumn(name=n, type=t, description=described.get(n) or None)
                           for n, t in types.get(table.identifier, [])]
                if columns:
                    metadata["dagster/column_schema"] = TableSchema(columns=columns)
                fresh = freshness_of(wh, table, now)
                if fresh is not None:
                    metadata["freshness/max_loaded_at"] = MetadataValue.text(str(fresh["max_loaded_at"]))
                    if fresh["lag_minutes"] is not None:
                        metadata["freshness/lag_minutes"] = MetadataValue.float(float(fresh["lag_minutes"]))
            else:
                context.log.warning(f"{RAW_SCHEMA}.{table.identifier} does not exist yet")
            yield MaterializeResult(asset_key=table.asset_key, metadata=metadata)


def _column_types(wh: Any) -> dict[str, list[tuple[str, str]]]:
    """``table -> [(column, data type)]`` of the raw schema, as the warehouse typed them."""
    rows = wh.fetchall(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = ? order by table_name, ordinal_position",
        [RAW_SCHEMA],
    )
    types: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        types.setdefault(table, []).append((column, str(dtype).lower()))
    return types


def _is_raw(name: str) -> bool:
    # the generator may report other schemas too (truth.*): only raw tables count
    return "." not in name or name.split(".")[0] == RAW_SCHEMA
