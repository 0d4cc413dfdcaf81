"""Schedules: the batch work and the full refresh run on the clock.

* ``kairos_refresh_hourly``: ``kairos_refresh`` at the top of every hour
  (UTC): landing load, raw checks (incl. volume and freshness), the whole dbt
  project, every sync.
* ``kairos_batch_daily``: ``kairos_batch`` at 03:00 UTC: identity, full
  profiles, predictive traits, segments and the audience syncs.
* ``sync__<name>``: a sync whose definition sets ``schedule:`` (cron) runs on
  that schedule.

All are stopped by default so a local ``kairos ui`` never starts sending on
its own; switch them on in the UI (Automation) or with
``dagster schedule start -m orchestration.definitions <name>``. The real-time
path is started by a sensor instead (:mod:`orchestration.sensors`).
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import DefaultScheduleStatus, ScheduleDefinition
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.jobs import BATCH_JOB, REFRESH_JOB

REFRESH_SCHEDULE = "kairos_refresh_hourly"
BATCH_SCHEDULE = "kairos_batch_daily"


def build_schedules(jobs: Sequence[UnresolvedAssetJobDefinition]) -> list[ScheduleDefinition]:
    """The hourly refresh, the daily batch and one schedule per scheduled sync."""
    by_name = {job.name: job for job in jobs}
    schedules = [
        ScheduleDefinition(
            name=REFRESH_SCHEDULE,
            job=by_name[REFRESH_JOB],
            cron_schedule="0 * * * *",
            execution_timezone="UTC",
            default_status=DefaultScheduleStatus.STOPPED,
            description="Every hour: landing load, raw checks (volume, freshness too), the whole dbt project, "
            "every sync.",
        ),
        ScheduleDefinition(
            name=BATCH_SCHEDULE,
            job=by_name[BATCH_JOB],
            cron_schedule="0 3 * * *",
            execution_timezone="UTC",
            default_status=DefaultScheduleStatus.STOPPED,
            description="Every day at 03:00 UTC: identity, full profiles, predictive traits, segments, audience "
            "syncs (dbt build --selector batch).",
        ),
    ]
    from orchestration.sync_assets import load_syncs

    for name, config in load_syncs().items():
        if config.schedule and f"sync__{name}" in by_name:
            schedules.append(
                ScheduleDefinition(
                    name=f"sync__{name}_schedule",
                    job=by_name[f"sync__{name}"],
                    cron_schedule=config.schedule,
                    execution_timezone="UTC",
                    default_status=DefaultScheduleStatus.STOPPED,
                    description=f"Sync {name} on the schedule of its definition ({config.schedule}).",
                )
            )
    return schedules
