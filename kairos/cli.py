"""The ``kairos`` command: one front door for the project's operations.

Each sub-command lives in the module that owns the concept; this file only
parses arguments and imports lazily so ``kairos --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_generate(args: argparse.Namespace) -> int:
    from kairos.generator import generate_and_load

    summary = generate_and_load(
        customers=args.customers, days=args.days, seed=args.seed, end=args.end
    )
    for table, rows in summary.items():
        print(f"{table:<32} {rows:>12,}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from kairos.demo import run_demo

    return run_demo(customers=args.customers, days=args.days, seed=args.seed)


def _cmd_sync(args: argparse.Namespace) -> int:
    from syncs.cli import main as sync_main

    return sync_main(args)


def _cmd_ui(args: argparse.Namespace) -> int:
    from kairos.ui import run_ui

    return run_ui(port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="kairos", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate the sample shop into the warehouse's raw schema")
    gen.add_argument("--customers", type=int, default=2_000, help="number of people (default 2000)")
    gen.add_argument("--days", type=int, default=90, help="days of history (default 90)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--end", default=None, help="end of the history, ISO timestamp (default: now, to the hour)")
    gen.set_defaults(func=_cmd_generate)

    demo = sub.add_parser("demo", help="generate the sample shop, run the whole pipeline, print a summary")
    demo.add_argument("--customers", type=int, default=2_000)
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_cmd_demo)

    sync = sub.add_parser("sync", help="run one sync, or all of them")
    sync.add_argument("name", nargs="?", help="sync name (a file under syncs/)")
    sync.add_argument("--all", action="store_true", help="run every declared sync")
    sync.add_argument("--dry-run", action="store_true", help="show what would change, send nothing")
    sync.add_argument("--full", action="store_true", help="resend everything, ignoring the last snapshot")
    sync.set_defaults(func=_cmd_sync)

    ui = sub.add_parser("ui", help="start the Dagster UI on the configured warehouse")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    # sub-commands registered by the module that owns them (imports stay light)
    from kairos.clv import add_fit_clv_parser
    from kairos.identity_report import add_identity_report_parser
    from kairos.traits import add_score_traits_parser
    from kairos.why import add_why_parser
    from syncs.feeds import add_feeds_parser
    from syncs.hashing import add_hash_parser

    for add in (add_fit_clv_parser, add_score_traits_parser, add_identity_report_parser, add_why_parser,
                add_hash_parser, add_feeds_parser):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kairos`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
