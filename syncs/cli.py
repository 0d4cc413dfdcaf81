"""``kairos sync``: run one sync by name, or all of them.

    kairos sync abandoned_cart_email_file [--dry-run] [--full]
    kairos sync --all
    python -m syncs.cli --write-exposures     # regenerate the dbt exposures of every sync

Prints one summary line per sync. Exit codes: 0 all good, 1 a sync failed,
2 a usage or definition error (unknown sync, invalid YAML).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from syncs.config import SyncConfigError, load_sync_configs


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run the syncs named by ``args`` (``name``, ``all``, ``dry_run``, ``full``)."""
    if not isinstance(args, argparse.Namespace):
        args = build_parser().parse_args(args)
    if getattr(args, "write_exposures", False):
        from syncs.config import write_exposures

        try:
            print(f"wrote {write_exposures(load_sync_configs(getattr(args, 'definitions', None)))}")
        except SyncConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        configs = load_sync_configs(getattr(args, "definitions", None))
    except SyncConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    name, run_all = getattr(args, "name", None), bool(getattr(args, "all", False))
    if run_all == bool(name):
        print("error: name one sync or pass --all (not both)", file=sys.stderr)
        print(f"known syncs: {', '.join(configs) or '(none)'}", file=sys.stderr)
        return 2
    if name and name not in configs:
        print(f"error: unknown sync {name!r}; known syncs: {', '.join(configs) or '(none)'}", file=sys.stderr)
        return 2
    selected = list(configs.values()) if run_all else [configs[name]]
    if not selected:
        print("no syncs defined")
        return 0

    from kairos.warehouse import Warehouse
    from syncs.engine import SyncFailed, run_sync

    failures = 0
    with Warehouse() as warehouse:
        for config in selected:  # one after another: a DuckDB file has a single writer
            try:
                # a progress line on stderr for syncs that take more than a couple of seconds
                result = run_sync(config, warehouse, full=bool(getattr(args, "full", False)),
                                  dry_run=bool(getattr(args, "dry_run", False)),
                                  progress=not bool(getattr(args, "quiet", False)))
            except SyncFailed as exc:
                failures += 1
                print(exc.result.summary_line())
                continue
            print(result.summary_line())
            for row in result.sample:
                print(f"    {json.dumps(row, ensure_ascii=False)}")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The same arguments as ``kairos sync``, for ``python -m syncs.cli``."""
    parser = argparse.ArgumentParser(prog="python -m syncs.cli", description="run reverse-ETL syncs")
    parser.add_argument("name", nargs="?", help="sync name (a file under syncs/definitions/)")
    parser.add_argument("--all", action="store_true", help="run every declared sync")
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent, send nothing")
    parser.add_argument("--full", action="store_true", help="resend every row, ignoring the ledger")
    parser.add_argument("--definitions", type=Path, default=None, help="folder of sync definitions")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    parser.add_argument("--write-exposures", action="store_true",
                        help="rewrite dbt_project/models/syncs/_syncs__exposures.yml from the definitions")
    return parser


if __name__ == "__main__":
    sys.exit(main())
