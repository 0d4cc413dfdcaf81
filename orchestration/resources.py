"""Resources shared by the Kairos assets: the warehouse and dbt.

Settings come from the ``KAIROS_*`` environment, read when a step runs (not
when the definitions are imported), so the UI, ``kairos demo`` and the tests
each point Dagster at their own warehouse just by setting the environment.
dbt reads the very same variables through the repository-level
``profiles.yml``; :func:`export_dbt_env` makes sure the values a dbt
subprocess sees are the resolved ones (an absolute DuckDB path).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource

from kairos.dbt import dbt_executable
from kairos.settings import PROJECT_ROOT, Settings, dbt_env, load_settings
from kairos.warehouse import Warehouse, connect

#: Variables a dbt subprocess must see resolved exactly as Python resolves them.
_DBT_ENV_KEYS = ("KAIROS_TARGET", "KAIROS_DUCKDB_PATH", "DBT_PROFILES_DIR")


class WarehouseResource(ConfigurableResource):
    """The configured warehouse (DuckDB file or PostgreSQL), from ``KAIROS_*``.

    One place for the Python side of every asset and check to learn where the
    warehouse is, so a later per-environment resource map only swaps this.
    """

    def settings(self) -> Settings:
        """Settings resolved from the environment at call time."""
        return load_settings()

    def connect(self, read_only: bool = False) -> Warehouse:
        """Open the warehouse. ``read_only`` applies to DuckDB only."""
        settings = self.settings()
        return connect(settings, read_only=read_only and settings.target == "duckdb")


def export_dbt_env(settings: Settings | None = None) -> None:
    """Put the resolved warehouse variables into ``os.environ`` for dbt.

    ``DbtCliResource`` hands its subprocess a copy of ``os.environ`` and has no
    way to pass another environment, so this is how dbt gets what
    :func:`kairos.settings.dbt_env` computes. Only the variables that locate
    the warehouse are written, and only when they differ (a relative or
    missing ``KAIROS_DUCKDB_PATH`` becomes absolute).
    """
    env = dbt_env(settings or load_settings())
    for key in _DBT_ENV_KEYS:
        if os.environ.get(key) != env[key]:
            os.environ[key] = env[key]


#: ``dbt --version`` per executable, once per process (see KairosDbtCliResource).
_DBT_VERSIONS: dict[str, Any] = {}


class KairosDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that asks ``dbt --version`` once per process.

    dagster-dbt caches the version on the resource instance, but Dagster
    builds a fresh instance for every run, so each run paid 3-4 s (on two
    cores) for ``dbt --version`` before dbt even started. The answer only
    depends on the executable, so it is kept per process here.
    """

    @property
    def _cli_version(self) -> Any:
        executable = str(self.dbt_executable)
        if executable not in _DBT_VERSIONS:
            _DBT_VERSIONS[executable] = DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]
        return _DBT_VERSIONS[executable]


@cache
def dbt_resource() -> DbtCliResource:
    """The one dbt resource of this process, shared by the definitions, the
    demo and the tests. The executable is the ``dbt`` beside the running
    Python (``.venv/bin/dbt``), so nothing depends on PATH.
    """
    from orchestration.dbt_assets import DBT_PROJECT

    return KairosDbtCliResource(
        project_dir=DBT_PROJECT,
        profiles_dir=str(PROJECT_ROOT),
        dbt_executable=dbt_executable(),
    )
