"""``kairos ui``: the Dagster UI on the configured warehouse.

Runs ``dagster dev -m orchestration.definitions`` with

* ``DAGSTER_HOME=<repo>/.dagster_home`` (``$DAGSTER_HOME`` if set), so runs,
  schedules and sensor cursors survive a restart. Its ``dagster.yaml`` turns
  telemetry off and queues runs on a DuckDB warehouse one at a time (a
  single-writer file); Dagster's own storage is local SQLite, or PostgreSQL
  with ``KAIROS_DAGSTER_STORAGE=postgres`` (``orchestration/dagster_postgres.yaml``,
  connection from ``DAGSTER_PG_*``). A ``dagster.yaml`` you wrote yourself
  (without the first-line marker) is left alone;
* the resolved ``KAIROS_*`` environment (:func:`kairos.settings.dbt_env`:
  absolute DuckDB path, dbt profile folder), so the UI, ``kairos demo`` and
  hand-run dbt all open the same warehouse;
* the virtual environment's ``bin`` first on ``PATH`` (dbt, dagster).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from kairos.settings import PROJECT_ROOT, dbt_env, load_settings

DAGSTER_HOME = Path(os.environ["DAGSTER_HOME"]).resolve() if os.environ.get("DAGSTER_HOME") \
    else PROJECT_ROOT / ".dagster_home"
STORAGE_ENV = "KAIROS_DAGSTER_STORAGE"
POSTGRES_TEMPLATE = PROJECT_ROOT / "orchestration" / "dagster_postgres.yaml"
_MARKER = "# Written by `kairos ui`"

_DAGSTER_YAML = f"""\
{_MARKER} (kairos/ui.py); remove this line to keep your own edits.
# Local instance of the Kairos Dagster UI: SQLite storage in this folder.
telemetry:
  enabled: false

# DuckDB admits one writing process: runs on it go one at a time.
run_queue:
  max_concurrent_runs: 4
  tag_concurrency_limits:
    - key: "kairos/warehouse"
      value: "duckdb"
      limit: 1
"""


def dagster_yaml(storage: str | None = None) -> str:
    """The ``dagster.yaml`` for ``storage`` (``sqlite``, the default, or ``postgres``)."""
    storage = (storage or os.environ.get(STORAGE_ENV) or "sqlite").strip().lower()
    if storage == "sqlite":
        return _DAGSTER_YAML
    if storage == "postgres":
        return f"{_MARKER} from {POSTGRES_TEMPLATE.name}; remove this line to keep your own edits.\n" + \
            POSTGRES_TEMPLATE.read_text(encoding="utf-8")
    raise ValueError(f"{STORAGE_ENV} must be 'sqlite' or 'postgres', got {storage!r}")


def ensure_dagster_home(home: Path = DAGSTER_HOME, storage: str | None = None) -> Path:
    """Create ``home`` with a ``dagster.yaml``; rewrite one written by us if the
    wanted configuration changed, never one a user wrote."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = dagster_yaml(storage)
    if not config.exists() or (config.read_text(encoding="utf-8").startswith(_MARKER)
                               and config.read_text(encoding="utf-8") != wanted):
        config.write_text(wanted, encoding="utf-8")
    return home


def ui_env(home: Path = DAGSTER_HOME) -> dict[str, str]:
    """The environment ``dagster dev`` runs with."""
    env = dbt_env(load_settings())
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "GX_ANALYTICS_ENABLED": "false",
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        }
    )
    return env


def dagster_command(port: int) -> list[str]:
    """``dagster dev -m orchestration.definitions -p PORT`` with this venv's dagster."""
    dagster = Path(sys.executable).parent / "dagster"
    exe = [str(dagster)] if dagster.exists() else ([shutil.which("dagster")] if shutil.which("dagster") else None)
    if exe is None:
        exe = [sys.executable, "-m", "dagster"]
    return [*exe, "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]


def run_ui(port: int = 3000) -> int:
    """Start the Dagster UI on http://127.0.0.1:PORT and wait; returns its exit code."""
    home = ensure_dagster_home()
    env = ui_env(home)
    print(f"Dagster UI on http://127.0.0.1:{port} (warehouse: {env['KAIROS_TARGET']}, DAGSTER_HOME={home})")
    proc = subprocess.Popen(dagster_command(port), cwd=PROJECT_ROOT, env=env)

    def _forward_term(signum: int, frame: object) -> None:
        # a service manager stops us with SIGTERM; dagster dev shuts down cleanly on SIGINT
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, _forward_term)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached dagster dev too (same process group); let it shut its
        # webserver and daemon down, and nudge it if it was signalled alone
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
