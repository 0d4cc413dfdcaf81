"""Transaction table -> per-customer RFM summary (x, t_x, T, m) and data minimums.

Conventions follow Fader, Hardie & Lee (2005) and Hardie's CDNOW data set,
which is what reproduces the published BG/NBD and Gamma-Gamma estimates:

* a *purchase* is a customer-day: several transactions on the same calendar day
  count once and their amounts are summed;
* the first purchase (the "trial") is not a repeat purchase: frequency
  ``x = distinct purchase days - 1``;
* recency ``t_x`` = time from the first to the last purchase day and ``T`` = time
  from the first purchase day to ``calibration_end``, both in days divided by the
  length of ``time_unit`` (7 for weeks), so not rounded to whole weeks;
* monetary value ``m`` = mean of the *repeat* purchase-day totals, the first
  purchase excluded (undefined, NaN, when ``x = 0``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TIME_UNIT_DAYS = {"day": 1.0, "week": 7.0}

#: Defaults of the data minimums below which the CLV traits are "not available".
DEFAULT_MIN_REPEAT_BUYERS = 300
DEFAULT_MIN_HISTORY_DAYS = 180


def unit_days(time_unit: str) -> float:
    """Length of one model time unit in days (``'day'`` or ``'week'``)."""
    try:
        return TIME_UNIT_DAYS[time_unit]
    except KeyError:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNIT_DAYS)}, got {time_unit!r}") from None


def _to_day(value: object, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not a date: {value!r}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{what} is missing")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _day_series(values: pd.Series) -> pd.Series:
    try:
        days = pd.to_datetime(values)
    except ValueError:  # strings in more than one layout ("2024-01-01" and "2024-01-01 10:00")
        days = pd.to_datetime(values, format="mixed")
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_convert("UTC").dt.tz_localize(None)
    return days.dt.normalize()


def summarise_transactions(
    df: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    calibration_end: str | dt.date | pd.Timestamp,
    time_unit: str = "week",
    observation_start: str | dt.date | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per customer with the BG/NBD and Gamma-Gamma inputs.

    Transactions after ``calibration_end`` (a day, inclusive) and before
    ``observation_start`` (inclusive; default: no lower bound) are ignored;
    customers with no purchase in that window are absent. Timestamps are cut
    to their (UTC) calendar day.

    Returns a frame indexed by customer (index name = ``customer_col``) with
    columns ``frequency`` (x), ``recency`` (t_x), ``T``, ``monetary_value`` (m,
    NaN when x = 0), ``first_purchase`` and ``last_purchase`` (days). ``attrs``
    carries ``calibration_end``, ``time_unit``, ``observation_start`` and
    ``history_days`` (from ``observation_start``, or the earliest purchase in
    the window, to ``calibration_end``).
    """
    for col in (customer_col, date_col, amount_col):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in the transaction table (has {list(df.columns)})")
    scale = unit_days(time_unit)
    end = _to_day(calibration_end, "calibration_end")
    start = None if observation_start is None else _to_day(observation_start, "observation_start")
    if start is not None and start > end:
        raise ValueError(f"observation_start {start.date()} is after calibration_end {end.date()}")

    tx = pd.DataFrame(
        {
            "customer": df[customer_col].to_numpy(),
            "day": _day_series(df[date_col]).to_numpy(),
            "amount": pd.to_numeric(df[amount_col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan),
        }
    )
    tx = tx[tx["customer"].notna() & tx["day"].notna()]
    keep = tx["day"] <= end
    if start is not None:
        keep &= tx["day"] >= start
    tx = tx[keep]

    # one purchase per customer-day; NaN amounts stay NaN only if the whole day is NaN
    days = tx.groupby(["customer", "day"], sort=True, observed=True)["amount"].sum(min_count=1).reset_index()
    days["n"] = days.groupby("customer", sort=False).cumcount()
    per = days.groupby("customer", sort=True).agg(
        first_purchase=("day", "min"), last_purchase=("day", "max"), purchase_days=("day", "size")
    )
    repeat = days[days["n"] > 0].groupby("customer", sort=True)["amount"].mean()

    out = pd.DataFrame(index=per.index)
    out.index.name = customer_col
    out["frequency"] = (per["purchase_days"] - 1).astype("int64")
    out["recency"] = (per["last_purchase"] - per["first_purchase"]).dt.days.astype("float64") / scale
    out["T"] = (end - per["first_purchase"]).dt.days.astype("float64") / scale
    out["monetary_value"] = repeat.reindex(per.index).astype("float64")
    out["first_purchase"] = per["first_purchase"]
    out["last_purchase"] = per["last_purchase"]

    history_from = start if start is not None else (per["first_purchase"].min() if len(per) else end)
    out.attrs.update(
        calibration_end=end.date().isoformat(),
        time_unit=time_unit,
        observation_start=None if start is None else start.date().isoformat(),
        history_days=int((end - history_from).days),
    )
    return out


@dataclass(frozen=True)
class DataSufficiency:
    """Whether a summary meets the data minimums, and why not."""

    customers: int
    repeat_buyers: int
    history_days: int
    min_repeat_buyers: int
    min_history_days: int
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "customers": self.customers,
            "repeat_buyers": self.repeat_buyers,
            "history_days": self.history_days,
            "min_repeat_buyers": self.min_repeat_buyers,
            "min_history_days": self.min_history_days,
            "reasons": list(self.reasons),
        }


class InsufficientDataError(ValueError):
    """The transaction history is too thin to fit the CLV models: trait not available."""

    def __init__(self, sufficiency: DataSufficiency) -> None:
        self.sufficiency = sufficiency
        super().__init__("CLV trait not available: " + "; ".join(sufficiency.reasons))


def check_data_minimums(
    summary: pd.DataFrame,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS,
    raise_error: bool = False,
) -> DataSufficiency:
    """Check a :func:`summarise_transactions` result against the data minimums.

    Repeat buyers are customers with ``frequency > 0``; history is
    ``summary.attrs['history_days']``. With ``raise_error`` an
    :class:`InsufficientDataError` is raised instead of returning a failed check.
    """
    repeat = int((summary["frequency"] > 0).sum())
    history = int(summary.attrs.get("history_days", 0))
    reasons = []
    if repeat < min_repeat_buyers:
        reasons.append(f"{repeat} repeat buyers < minimum {min_repeat_buyers}")
    if history < min_history_days:
        reasons.append(f"{history} days of history < minimum {min_history_days}")
    result = DataSufficiency(
        customers=int(len(summary)),
        repeat_buyers=repeat,
        history_days=history,
        min_repeat_buyers=int(min_repeat_buyers),
        min_history_days=int(min_history_days),
        reasons=tuple(reasons),
    )
    if raise_error and not result.ok:
        raise InsufficientDataError(result)
    return result
