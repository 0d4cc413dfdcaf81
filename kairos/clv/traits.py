"""Per-customer CLV traits from an order table: pure scoring plus a thin warehouse helper."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from kairos.clv.model import DEFAULT_CHURN_THRESHOLDS, CLVModel, churn_risk_band, fit_clv
from kairos.clv.summary import (
    DEFAULT_MIN_HISTORY_DAYS,
    DEFAULT_MIN_REPEAT_BUYERS,
    InsufficientDataError,
    _day_series,
    _to_day,
    summarise_transactions,
)

#: Where the warehouse helper reads orders from: cancelled and returned orders
#: (``is_revenue`` false) are not purchases, orders not tied to a person carry no trait.
ORDERS_SQL = (
    "select customer_key, ordered_at, order_total from marts.fct_orders"
    " where is_revenue and customer_key is not null"
)

#: Arrow schema of the traits table (also the column order of :func:`score_customers`).
TRAITS_SCHEMA = pa.schema(
    [
        ("customer_key", pa.string()),
        ("probability_active", pa.float64()),
        ("expected_purchases_90d", pa.float64()),
        ("predicted_clv_12m", pa.float64()),
        ("expected_next_order_at", pa.timestamp("us")),
        ("churn_risk_band", pa.string()),
        ("trait_status", pa.string()),
    ]
)

#: trait_status values
STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"
STATUS_NOT_CONVERGED = "model_not_converged"
STATUS_NO_SPEND_MODEL = "no_spend_model"


def score_customers(
    orders: pd.DataFrame,
    as_of: str | dt.date | pd.Timestamp | None = None,
    *,
    customer_col: str = "customer_key",
    date_col: str = "ordered_at",
    amount_col: str = "order_total",
    time_unit: str = "week",
    observation_start: str | dt.date | pd.Timestamp | None = None,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS,
    margin: float = 1.0,
    discount_rate: float = 0.01,
    discount_period: str = "month",
    churn_thresholds: tuple[float, float] = DEFAULT_CHURN_THRESHOLDS,
    next_order_horizon_days: float = 365.0,
) -> pd.DataFrame:
    """Fit the CLV models on the orders up to ``as_of`` and score every customer.

    ``as_of`` (a day; default the day of the latest order) is the calibration
    end. Returns one row per customer with an order on or before it, columns
    as :data:`TRAITS_SCHEMA`:

    * ``probability_active``: BG/NBD P(alive);
    * ``expected_purchases_90d``: expected orders in the 90 days after ``as_of``;
    * ``predicted_clv_12m``: discounted expected spend (x ``margin``) over 12 months;
    * ``expected_next_order_at``: ``as_of`` + 1 / expected purchase rate over
      ``next_order_horizon_days``; null if under one order is expected in it;
    * ``churn_risk_band``: low / medium / high from P(alive) and ``churn_thresholds``;
    * ``trait_status``: ``ok``; ``insufficient_data`` (data minimums not met,
      every trait null); ``model_not_converged`` (every trait null);
      ``no_spend_model`` (Gamma-Gamma unusable: CLV null, the rest filled).

    The fitted model (or the reason there is none) is in ``result.attrs['clv']``.
    """
    if as_of is None:
        if len(orders) == 0:
            return _empty(reason="no orders")
        as_of_day = _day_series(orders[date_col]).max()
    else:
        as_of_day = _to_day(as_of, "as_of")
    summary = summarise_transactions(
        orders, customer_col, date_col, amount_col, as_of_day, time_unit, observation_start
    )
    n = len(summary)
    frame = pd.DataFrame(
        {
            "customer_key": summary.index.to_numpy(),
            "probability_active": np.full(n, np.nan),
            "expected_purchases_90d": np.full(n, np.nan),
            "predicted_clv_12m": np.full(n, np.nan),
            "expected_next_order_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[us]"),
            "churn_risk_band": pd.Series([None] * n, dtype=object),
            "trait_status": STATUS_OK,
        }
    )
    try:
        model = fit_clv(summary, min_repeat_buyers, min_history_days)
    except InsufficientDataError as exc:
        frame["trait_status"] = STATUS_INSUFFICIENT
        frame.attrs["clv"] = {"status": STATUS_INSUFFICIENT, "reason": str(exc), "as_of": as_of_day.date().isoformat(),
                              "data": exc.sufficiency.as_dict()}
        return frame
    frame.attrs["clv"] = {"status": STATUS_OK, "as_of": as_of_day.date().isoformat(), **model.as_dict()}
    if not model.bgnbd.converged:
        frame["trait_status"] = STATUS_NOT_CONVERGED
        frame.attrs["clv"]["status"] = STATUS_NOT_CONVERGED
        return frame

    p_alive = model.probability_alive(summary)
    frame["probability_active"] = p_alive
    frame["expected_purchases_90d"] = model.expected_purchases(summary, 90.0)
    frame["churn_risk_band"] = churn_risk_band(p_alive, churn_thresholds)
    next_days = model.expected_next_order_days(summary, next_order_horizon_days)
    next_at = as_of_day + pd.to_timedelta(np.round(next_days), unit="D")
    frame["expected_next_order_at"] = pd.Series(next_at, index=frame.index).astype("datetime64[us]")
    if model.spend_model_usable:
        frame["predicted_clv_12m"] = model.clv(
            summary, months=12, margin=margin, discount_rate=discount_rate, discount_period=discount_period
        )
    else:
        frame["trait_status"] = STATUS_NO_SPEND_MODEL
        frame.attrs["clv"]["status"] = STATUS_NO_SPEND_MODEL
    return frame


def _empty(reason: str) -> pd.DataFrame:
    frame = TRAITS_SCHEMA.empty_table().to_pandas()
    frame.attrs["clv"] = {"status": STATUS_INSUFFICIENT, "reason": reason}
    return frame


def traits_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The scored frame as an Arrow table with :data:`TRAITS_SCHEMA` (NaN -> null)."""
    data = frame[TRAITS_SCHEMA.names].copy()
    data["customer_key"] = data["customer_key"].astype(object).map(lambda v: None if v is None else str(v))
    return pa.Table.from_pandas(data, schema=TRAITS_SCHEMA, preserve_index=False).replace_schema_metadata(None)


def score_warehouse(
    warehouse,
    schema: str = "traits",
    table: str = "customer_clv",
    as_of: str | dt.date | pd.Timestamp | None = None,
    orders_sql: str = ORDERS_SQL,
    **score_kwargs,
) -> pd.DataFrame:
    """Read the orders (``orders_sql``, default :data:`ORDERS_SQL` on
    ``marts.fct_orders``; columns customer_key, ordered_at, order_total) from a
    :class:`kairos.warehouse.Warehouse`, score them with :func:`score_customers`
    and write ``schema.table`` (replaced) with :data:`TRAITS_SCHEMA`.

    Returns the scored frame (its ``attrs['clv']`` has the fit).
    """
    # inside a transaction: PostgreSQL's streaming (named) cursor needs one under autocommit
    with warehouse.transaction():
        orders = warehouse.fetch_arrow(orders_sql).to_pandas()
    frame = score_customers(orders, as_of, **score_kwargs)
    warehouse.load_arrow(schema, table, traits_to_arrow(frame), replace=True)
    return frame
