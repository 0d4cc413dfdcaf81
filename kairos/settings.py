"""Where things live and which warehouse to use, read from the environment.

Every path is absolute so that dbt, Dagster and the sync engine, which may run
from different working directories, all open the same warehouse file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Resolved runtime settings. Build one with :func:`load_settings`."""

    target: str
    duckdb_path: Path
    output_dir: Path
    landing_dir: Path
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_database: str

    @property
    def pg_dsn(self) -> str:
        """A libpq connection string for the PostgreSQL target."""
        parts = [
            f"host={self.pg_host}",
            f"port={self.pg_port}",
            f"user={self.pg_user}",
            f"dbname={self.pg_database}",
        ]
        if self.pg_password:
            parts.append(f"password={self.pg_password}")
        return " ".join(parts)


def load_settings() -> Settings:
    """Read settings from ``KAIROS_*`` environment variables, with local defaults."""
    target = os.environ.get("KAIROS_TARGET", "duckdb")
    if target not in ("duckdb", "postgres"):
        raise ValueError(f"KAIROS_TARGET must be 'duckdb' or 'postgres', got {target!r}")
    return Settings(
        target=target,
        duckdb_path=_path_from_env("KAIROS_DUCKDB_PATH", PROJECT_ROOT / "warehouse" / "kairos.duckdb"),
        output_dir=_path_from_env("KAIROS_OUTPUT_DIR", PROJECT_ROOT / "output"),
        landing_dir=_path_from_env("KAIROS_LANDING_DIR", PROJECT_ROOT / "landing"),
        pg_host=os.environ.get("KAIROS_PG_HOST", "127.0.0.1"),
        pg_port=int(os.environ.get("KAIROS_PG_PORT", "5432")),
        pg_user=os.environ.get("KAIROS_PG_USER", "postgres"),
        pg_password=os.environ.get("KAIROS_PG_PASSWORD", ""),
        pg_database=os.environ.get("KAIROS_PG_DATABASE", "kairos"),
    )


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables that dbt's ``profiles.yml`` reads, for subprocesses."""
    env = dict(os.environ)
    env.update(
        {
            "KAIROS_TARGET": settings.target,
            "KAIROS_DUCKDB_PATH": str(settings.duckdb_path),
            "KAIROS_PG_HOST": settings.pg_host,
            "KAIROS_PG_PORT": str(settings.pg_port),
            "KAIROS_PG_USER": settings.pg_user,
            "KAIROS_PG_PASSWORD": settings.pg_password,
            "KAIROS_PG_DATABASE": settings.pg_database,
            "DBT_PROFILES_DIR": str(PROJECT_ROOT),
            "DBT_PROJECT_DIR": str(PROJECT_ROOT),
        }
    )
    return env
