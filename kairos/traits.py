"""Predictive traits step: BG/NBD + Gamma-Gamma scores from ``marts.fct_orders`` into the warehouse.

Runs after ``fct_orders`` (the Dagster asset ``traits/customer_clv`` in
:mod:`orchestration.traits_assets`, or ``kairos score-traits``): reads the
paid orders of identified people, fits the CLV models (:mod:`kairos.clv`)
and writes

* ``traits.customer_clv`` - one row per customer_key with an order on or before
  the scoring day: probability_active, expected_purchases_90d,
  predicted_clv_12m, expected_next_order_at, churn_risk_band, trait_status
  (``ok``, ``insufficient_data``, ``model_not_converged``, ``no_spend_model``);
* ``traits.customer_clv_fits`` - one row per scoring run: when, as of which
  day, the status, the reason when the data minimums were not met, and the
  fitted parameters (JSON), so "why are my traits empty?" has an answer.

dbt declares ``traits.customer_clv`` as source ``kairos_traits.customer_clv``;
``dim_customers`` left-joins it through ``dim_customer_key_map`` (so scores
follow identity merges) and says ``not_scored`` when the table is missing.

Data minimums (below them every trait is null, status ``insufficient_data``):
``min_repeat_buyers`` customers with a repeat purchase (default 300) and
``min_history_days`` of order history (default 180), the defaults of
:mod:`kairos.clv.summary`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from kairos.settings import Settings

SCHEMA = "traits"
TABLE = "customer_clv"
FITS_TABLE = "customer_clv_fits"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def score_traits(
    settings: Settings | None = None,
    as_of: str | dt.date | None = None,
    schema: str = SCHEMA,
    table: str = TABLE,
    **score_kwargs: Any,
) -> dict[str, Any]:
    """Score every identified customer from ``marts.fct_orders`` and write ``schema.table``.

    ``as_of`` is the scoring day (calibration end); default the day of the
    latest order. ``score_kwargs`` go to :func:`kairos.clv.score_customers`
    (``min_repeat_buyers``, ``min_history_days``, ``margin``, ...). Returns a
    summary: rows written, status counts and the fit (or why there is none).
    """
    import pyarrow as pa

    from kairos.clv import score_warehouse
    from kairos.warehouse import connect

    with connect(settings) as wh:
        if not wh.table_exists("marts", "fct_orders"):
            raise LookupError("marts.fct_orders does not exist: run dbt first")
        frame = score_warehouse(wh, schema=schema, table=table, as_of=as_of, **score_kwargs)
        fit = _json_safe(frame.attrs.get("clv", {}))
        statuses = {str(k): int(v) for k, v in frame["trait_status"].value_counts().items()}
        scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        log = pa.table(
            {
                "scored_at": pa.array([scored_at], pa.timestamp("us")),
                "as_of": pa.array([fit.get("as_of")], pa.string()),
                "status": pa.array([fit.get("status")], pa.string()),
                "reason": pa.array([fit.get("reason")], pa.string()),
                "customers": pa.array([len(frame)], pa.int64()),
                "fit_json": pa.array([json.dumps(fit, sort_keys=True, default=str)], pa.string()),
            }
        )
        replace = not wh.table_exists(schema, FITS_TABLE)
        wh.load_arrow(schema, FITS_TABLE, log, replace=replace)
    return {"table": f"{schema}.{table}", "rows": int(len(frame)), "trait_status": statuses, "fit": fit}


def run_score_traits(args: argparse.Namespace) -> int:
    """Run ``score-traits`` from parsed arguments (the ``func`` of the sub-parser)."""
    kwargs: dict[str, Any] = {}
    if args.min_repeat_buyers is not None:
        kwargs["min_repeat_buyers"] = args.min_repeat_buyers
    if args.min_history_days is not None:
        kwargs["min_history_days"] = args.min_history_days
    try:
        summary = score_traits(as_of=args.as_of, **kwargs)
    except LookupError as exc:
        print(f"score-traits: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str))
    return 0


def add_score_traits_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``score-traits`` sub-command to an ``add_subparsers()`` object (sets ``func``)."""
    parser = subparsers.add_parser(
        "score-traits",
        help="score predictive CLV traits from marts.fct_orders into traits.customer_clv",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--as-of", default=None, help="scoring day YYYY-MM-DD (default: day of the latest order)")
    parser.add_argument("--min-repeat-buyers", type=int, default=None, help="data minimum (default 300)")
    parser.add_argument("--min-history-days", type=int, default=None, help="data minimum (default 180)")
    parser.set_defaults(func=run_score_traits)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kairos.traits [--as-of DAY]``."""
    parser = argparse.ArgumentParser(prog="kairos score-traits", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    add_score_traits_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "score-traits":
        argv = ["score-traits", *argv]
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
