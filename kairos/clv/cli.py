"""``fit-clv``: fit BG/NBD + Gamma-Gamma on a transaction CSV and print the estimates as JSON.

Wire into ``kairos.cli`` with ``add_fit_clv_parser(sub)``; runnable on its own as
``python -m kairos.clv fit-clv --transactions FILE.csv --calibration-end YYYY-MM-DD``.
Exit codes: 0 fitted, 3 below the data minimums (JSON with
``"status": "insufficient_data"`` on stdout), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

EXIT_INSUFFICIENT_DATA = 3


def _clean(value):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# same values as kairos.clv.summary's, repeated so building the parser imports nothing heavy
DEFAULT_MIN_REPEAT_BUYERS = 300
DEFAULT_MIN_HISTORY_DAYS = 180


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transactions", required=True, help="CSV with columns customer_id, date, amount")
    parser.add_argument("--calibration-end", required=True, help="last day of the calibration period, YYYY-MM-DD")
    parser.add_argument("--time-unit", choices=("week", "day"), default="week", help="model time unit (default week)")
    parser.add_argument("--observation-start", default=None, help="ignore transactions before this day")
    parser.add_argument("--min-repeat-buyers", type=int, default=DEFAULT_MIN_REPEAT_BUYERS,
                        help=f"data minimum: customers with a repeat purchase (default {DEFAULT_MIN_REPEAT_BUYERS})")
    parser.add_argument("--min-history-days", type=int, default=DEFAULT_MIN_HISTORY_DAYS,
                        help=f"data minimum: days of history (default {DEFAULT_MIN_HISTORY_DAYS})")
    parser.add_argument("--customer-col", default="customer_id")
    parser.add_argument("--date-col", default="date")
    parser.add_argument("--amount-col", default="amount")


def run_fit_clv(args: argparse.Namespace) -> int:
    """Run ``fit-clv`` from parsed arguments (the ``func`` of the sub-parser)."""
    import pandas as pd

    from kairos.clv.model import fit_clv
    from kairos.clv.summary import InsufficientDataError, summarise_transactions

    try:
        df = pd.read_csv(args.transactions, dtype={args.customer_col: str})
        summary = summarise_transactions(
            df, args.customer_col, args.date_col, args.amount_col,
            calibration_end=args.calibration_end, time_unit=args.time_unit,
            observation_start=args.observation_start,
        )
    except (OSError, KeyError, ValueError) as exc:
        print(f"fit-clv: {exc}", file=sys.stderr)
        return 2
    try:
        model = fit_clv(summary, args.min_repeat_buyers, args.min_history_days)
    except InsufficientDataError as exc:
        out = {"status": "insufficient_data", "reason": str(exc), **exc.sufficiency.as_dict(),
               "calibration_end": summary.attrs["calibration_end"], "time_unit": args.time_unit}
        print(json.dumps(_clean(out), indent=2))
        return EXIT_INSUFFICIENT_DATA
    out = {"status": "ok", **model.as_dict()}
    print(json.dumps(_clean(out), indent=2))
    return 0


def add_fit_clv_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``fit-clv`` sub-command to an ``add_subparsers()`` object (sets ``func``)."""
    parser = subparsers.add_parser(
        "fit-clv", help="fit the BG/NBD + Gamma-Gamma CLV models on a transaction CSV, print JSON",
        description=__doc__.splitlines()[0],
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_fit_clv)
    return parser


def cli_fit_clv(argv: Sequence[str] | None = None) -> int:
    """``python -m kairos.clv fit-clv ...`` (the leading ``fit-clv`` is optional)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "fit-clv":
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="kairos fit-clv", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return run_fit_clv(parser.parse_args(argv))
