"""Shared fixtures: an isolated DuckDB warehouse per test, and a fresh
PostgreSQL database for the tests that need the real server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kairos.settings import Settings, load_settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@pytest.fixture
def duck_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at a fresh DuckDB file and output folder under tmp_path.

    The environment is set too, so subprocesses (dbt) see the same warehouse.
    """
    monkeypatch.setenv("KAIROS_TARGET", "duckdb")
    monkeypatch.setenv("KAIROS_DUCKDB_PATH", str(tmp_path / "kairos.duckdb"))
    monkeypatch.setenv("KAIROS_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("KAIROS_LANDING_DIR", str(tmp_path / "landing"))
    return load_settings()


def _pg_admin_settings() -> Settings:
    base = load_settings()
    return replace(base, target="postgres", pg_database=os.environ.get("KAIROS_PG_ADMIN_DB", "postgres"))


def _pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(_pg_admin_settings().pg_dsn, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@pytest.fixture
def pg_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a brand-new PostgreSQL database, dropped afterwards.

    PostgreSQL is part of this project's test contract, so an unreachable
    server fails the test instead of skipping it.
    """
    import psycopg2

    if not _pg_available():
        pytest.fail("PostgreSQL is not reachable at KAIROS_PG_HOST:KAIROS_PG_PORT (start it: see .ci/run)")
    admin = _pg_admin_settings()
    name = f"kairos_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin.pg_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    settings = replace(admin, pg_database=name, output_dir=tmp_path / "output", landing_dir=tmp_path / "landing")
    monkeypatch.setenv("KAIROS_TARGET", "postgres")
    monkeypatch.setenv("KAIROS_PG_DATABASE", name)
    monkeypatch.setenv("KAIROS_OUTPUT_DIR", str(settings.output_dir))
    monkeypatch.setenv("KAIROS_LANDING_DIR", str(settings.landing_dir))
    try:
        yield settings
    finally:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        conn.close()
