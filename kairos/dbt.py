"""Run dbt against the configured warehouse from Python (CLI, tests, benchmarks).

Dagster runs dbt through dagster-dbt's ``DbtCliResource``; everything else
goes through :func:`run_dbt` so the profile, target and warehouse path are
always the ones in :mod:`kairos.settings`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from kairos.settings import PROJECT_ROOT, Settings, dbt_env, load_settings


class DbtError(RuntimeError):
    """dbt exited non-zero; the message carries the tail of its output."""


def dbt_executable() -> str:
    """The ``dbt`` installed beside the running Python (the project's venv)."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed in this environment (run `make install`)")
    return found


def run_dbt(
    args: Sequence[str],
    settings: Settings | None = None,
    vars: dict | None = None,
    target_path: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <args>`` on the configured target and return the finished process.

    ``vars`` are passed as ``--vars`` JSON; ``target_path`` keeps artifacts of
    parallel runs (for example tests on two warehouses) apart.
    """
    settings = settings or load_settings()
    cmd = [dbt_executable(), *args, "--target", settings.target]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
    proc = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=dbt_env(settings), capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        raise DbtError(f"`dbt {' '.join(args)}` failed on {settings.target}:\n{tail}")
    return proc
