"""Jobs: what runs together.

* ``kairos_demo``: everything. The sample-shop generator (re)creates the raw
  tables, the loader appends anything waiting in the landing zone, the raw
  suites check them (blocking), ``dbt build`` runs every model and test, the
  mart and decision suites check the results, and every sync delivers. This
  is what ``kairos demo`` runs and what a first look in the UI materialises.
* ``kairos_refresh``: everything but the generator (landing load, checks,
  the whole dbt project, every sync). The hourly schedule runs it.
* ``kairos_realtime``: the short path from a new event to a delivered
  message, launched by the landing sensor: landing load -> raw checks on the
  micro-batch only -> ``dbt build`` of the ``realtime`` selector
  (``selectors.yml``: fct_events and the triggers, decisions and sync models
  fed by events) -> the message syncs of those models. Batch layers (identity,
  profiles, segments) are read, not rebuilt; volume and freshness checks stay
  with the refresh.
* ``kairos_batch``: the ``batch`` selector (quarantine, identity, profiles,
  segments, audience sync models), the predictive traits asset and the syncs
  that read them, on a daily schedule.
* ``sync__<name>``: one job per sync whose definition sets ``schedule:``.

Which syncs are real-time: those whose model is in the ``realtime``
selection, unless the definition sets a ``schedule`` (they get their own
job) or ``trigger: manual``. Likewise for batch.

Every job is tagged ``kairos/warehouse: <target>``; ``kairos ui`` limits runs
with that tag to one at a time on DuckDB (a single-writer file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from dagster import AssetCheckKey, AssetKey, AssetSelection, AssetsDefinition, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.raw_assets import QUALITY_SCOPE_TAG, SAMPLE_SHOP_KEY, raw_asset_keys
from orchestration.traits_assets import TRAITS_KEY

DEMO_JOB = "kairos_demo"
REFRESH_JOB = "kairos_refresh"
REALTIME_JOB = "kairos_realtime"
BATCH_JOB = "kairos_batch"
REALTIME_SELECTOR = "realtime"
BATCH_SELECTOR = "batch"
WAREHOUSE_TAG = "kairos/warehouse"


@cache
def selector_selection(selector: str) -> tuple[frozenset[AssetKey], frozenset[AssetCheckKey]]:
    """The dbt models (asset keys) and tests (asset check keys) a ``selectors.yml``
    selector picks, exactly as ``dbt build --selector <name>`` would run them."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test
    from dagster_dbt.utils import select_unique_ids

    from orchestration.dbt_assets import DBT_PROJECT, TRANSLATOR

    manifest = json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))
    if selector not in (manifest.get("selectors") or {}):
        return frozenset(), frozenset()
    ids = select_unique_ids(select="fqn:*", exclude="", selector=selector, project=DBT_PROJECT, manifest_json=manifest)
    keys: set[AssetKey] = set()
    checks: set[AssetCheckKey] = set()
    for unique_id in ids:
        node = manifest["nodes"].get(unique_id)
        if not node:
            continue
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            keys.add(TRANSLATOR.get_asset_key(node))
        elif node.get("resource_type") == "test":
            check = get_asset_check_key_for_test(manifest, TRANSLATOR, unique_id, DBT_PROJECT)
            if check is not None:
                checks.add(check)
    return frozenset(keys), frozenset(checks)


def selector_keys(selector: str) -> frozenset[AssetKey]:
    """Asset keys of the dbt models and seeds a ``selectors.yml`` selector picks."""
    return selector_selection(selector)[0]


def dbt_selection(selector: str) -> AssetSelection:
    """The selector as a Dagster selection: its models, and as checks only the
    dbt tests it runs (a selector may leave the tests of a big table to the
    refresh), the non-dbt checks of those models kept."""
    keys, checks = selector_selection(selector)
    if not keys:
        return AssetSelection.assets()
    from orchestration.dbt_assets import kairos_dbt

    dbt_checks = {spec.key for spec in kairos_dbt.check_specs}
    dropped = [c for c in dbt_checks if c.asset_key in keys and c not in checks]
    selection = AssetSelection.assets(*keys)
    return selection - AssetSelection.checks(*dropped) if dropped else selection


def _sync_model_key(sync_asset: AssetsDefinition, model: str) -> AssetKey | None:
    """The key of the dbt model a sync asset reads (its other deps are gates)."""
    (key,) = sync_asset.keys
    return next((dep for dep in sync_asset.asset_deps[key] if dep.path[-1] == model), None)


def syncs_for(selector_models: frozenset[AssetKey], sync_assets: Sequence[AssetsDefinition],
              exclude: frozenset[AssetKey] = frozenset()) -> list[AssetKey]:
    """Sync asset keys whose model is in ``selector_models`` (and not in ``exclude``),
    leaving out syncs with their own schedule or a manual trigger."""
    from orchestration.sync_assets import load_syncs, sync_asset_key

    configs = {sync_asset_key(name): config for name, config in load_syncs().items()}
    keys = []
    for asset in sync_assets:
        (key,) = asset.keys
        config = configs.get(key)
        if config is None or config.schedule or config.trigger == "manual":
            continue
        model = _sync_model_key(asset, config.model)
        if model in selector_models and model not in exclude:
            keys.append(key)
    return keys


def _tags(kind: str, **extra: str) -> dict[str, str]:
    return {"kairos/job": kind, WAREHOUSE_TAG: os.environ.get("KAIROS_TARGET", "duckdb"), **extra}


def build_jobs(sync_assets: Sequence[AssetsDefinition], checks: Sequence[Any] = ()) -> list[UnresolvedAssetJobDefinition]:
    """Demo, refresh, real-time and batch jobs, plus one job per scheduled sync."""
    from orchestration.quality import realtime_excluded_check_keys

    raw = AssetSelection.assets(*raw_asset_keys())
    sample = AssetSelection.assets(SAMPLE_SHOP_KEY)
    realtime_models = selector_keys(REALTIME_SELECTOR)
    batch_models = selector_keys(BATCH_SELECTOR)

    jobs = [
        define_asset_job(
            DEMO_JOB,
            selection=AssetSelection.all(),
            description="Generate the sample shop, load the landing zone, check, build dbt (tests as checks), "
            "check marts and decisions, run every sync.",
            tags=_tags("demo"),
        ),
        define_asset_job(
            REFRESH_JOB,
            selection=AssetSelection.all() - sample,
            description="Load the landing zone, check the raw tables, build the whole dbt project (tests as "
            "checks), check marts and decisions, run every sync. Raw data is not regenerated.",
            tags=_tags("refresh"),
        ),
    ]
    realtime_syncs = syncs_for(realtime_models, sync_assets)
    realtime = raw | dbt_selection(REALTIME_SELECTOR) | AssetSelection.assets(*realtime_syncs)
    excluded = realtime_excluded_check_keys(checks)
    if excluded:
        realtime = realtime - AssetSelection.checks(*excluded)
    jobs.append(
        define_asset_job(
            REALTIME_JOB,
            selection=realtime,
            description="The real-time path: load the landing zone, check the micro-batch (blocking), dbt build "
            "--selector realtime, then the message syncs. Launched by the landing sensor.",
            tags=_tags("realtime", **{QUALITY_SCOPE_TAG: "batch"}),
        )
    )
    batch_syncs = syncs_for(batch_models, sync_assets, exclude=realtime_models)
    jobs.append(
        define_asset_job(
            BATCH_JOB,
            selection=dbt_selection(BATCH_SELECTOR) | AssetSelection.assets(TRAITS_KEY, *batch_syncs),
            description="Batch work: dbt build --selector batch (identity, profiles, segments), the predictive "
            "traits and the audience syncs that read them.",
            tags=_tags("batch"),
        )
    )
    from orchestration.sync_assets import load_syncs, sync_asset_key

    for name, config in load_syncs().items():
        if config.schedule:
            jobs.append(
                define_asset_job(
                    f"sync__{name}",
                    selection=AssetSelection.assets(sync_asset_key(name)),
                    description=f"Sync {name} on its own schedule ({config.schedule}).",
                    tags=_tags("sync", **{"kairos/sync": name}),
                )
            )
    return jobs
