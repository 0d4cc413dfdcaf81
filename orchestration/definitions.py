"""The one ``Definitions`` of Kairos: ``dagster dev -m orchestration.definitions``.

Asset graph, layer by layer (one Dagster group each)::

    raw: sample_shop (generator) -> raw tables (landing-zone loader)
         checks: GX suites (blocking), volume and source freshness (warnings)
      -> reference (seeds) -> staging (+ quarantine) -> intermediate -> marts
         (GX suite on dim_customers, blocking); fct_orders -> traits/customer_clv
         (the CLV fit in Python; dim_customers joins the latest scoring)
      -> segments -> triggers -> decisions (GX "no intent without consent", blocking)
      -> syncs (sync_* models, dbt) -> destinations (one asset per sync definition)

dbt tests are asset checks of the models they test (severity error: blocking).

Jobs (:mod:`orchestration.jobs`): ``kairos_demo``, ``kairos_refresh``,
``kairos_realtime``, ``kairos_batch``, one per scheduled sync. Schedules
(:mod:`orchestration.schedules`): hourly refresh, daily batch. Sensors
(:mod:`orchestration.sensors`): landing zone -> real-time job, raw high-water
marks (stopped), alerts on failed runs.

On DuckDB (a single-writer file) steps run in one process, one after the
other; on PostgreSQL the default multiprocess executor runs independent steps
(several syncs) side by side.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, in_process_executor, multiprocess_executor

from orchestration.dbt_assets import kairos_dbt
from orchestration.jobs import build_jobs
from orchestration.quality import ALL_CHECKS
from orchestration.raw_assets import raw_sample_shop, raw_tables
from orchestration.resources import WarehouseResource, dbt_resource
from orchestration.schedules import build_schedules
from orchestration.sensors import SENSORS
from orchestration.sync_assets import build_sync_assets
from orchestration.traits_assets import customer_clv

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def build_definitions(syncs_dir: Path | str | None = None) -> Definitions:
    """The Definitions, with the syncs of ``syncs_dir`` (default: ``$KAIROS_SYNCS_DIR``
    or ``syncs/definitions/``). Tests and the latency benchmark pass their own
    folder (a webhook sync to a local receiver)."""
    previous = os.environ.get("KAIROS_SYNCS_DIR")
    if syncs_dir is not None:
        os.environ["KAIROS_SYNCS_DIR"] = str(syncs_dir)
    try:
        sync_assets = build_sync_assets([kairos_dbt], ALL_CHECKS)
        jobs = build_jobs(sync_assets, ALL_CHECKS)
        schedules = build_schedules(jobs)
    finally:
        if syncs_dir is not None:
            if previous is None:
                os.environ.pop("KAIROS_SYNCS_DIR", None)
            else:
                os.environ["KAIROS_SYNCS_DIR"] = previous
    return Definitions(
        assets=[raw_sample_shop, raw_tables, kairos_dbt, customer_clv, *sync_assets],
        asset_checks=ALL_CHECKS,
        jobs=jobs,
        schedules=schedules,
        sensors=SENSORS,
        resources={"dbt": dbt_resource(), "warehouse": WarehouseResource()},
        executor=in_process_executor if os.environ.get("KAIROS_TARGET", "duckdb") == "duckdb" else multiprocess_executor,
    )


defs = build_definitions()
#: the sync assets of :data:`defs`
sync_assets = [a for a in defs.assets if any(k.path[0] == "destinations" for k in getattr(a, "keys", []))]
