"""BG/NBD + Gamma-Gamma together: fit on a summary, predict CLV and its companions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kairos.clv.bgnbd import BGNBDFit, fit_bgnbd
from kairos.clv.gamma_gamma import GammaGammaFit, fit_gamma_gamma
from kairos.clv.summary import (
    DEFAULT_MIN_HISTORY_DAYS,
    DEFAULT_MIN_REPEAT_BUYERS,
    DataSufficiency,
    check_data_minimums,
    unit_days,
)

DAYS_PER_MONTH = 365.25 / 12

#: P(alive) thresholds of the churn-risk bands: >= high -> "low" risk,
#: >= low -> "medium", below -> "high".
DEFAULT_CHURN_THRESHOLDS = (0.3, 0.7)


def monthly_rate(discount_rate: float, discount_period: str = "month") -> float:
    """A discount rate per month from one per ``'month'`` or per ``'year'``."""
    if discount_rate <= -1:
        raise ValueError("discount_rate must be > -1")
    if discount_period == "month":
        return float(discount_rate)
    if discount_period == "year":
        return float((1.0 + discount_rate) ** (1.0 / 12.0) - 1.0)
    raise ValueError(f"discount_period must be 'month' or 'year', got {discount_period!r}")


def churn_risk_band(probability_active, thresholds: tuple[float, float] = DEFAULT_CHURN_THRESHOLDS) -> np.ndarray:
    """'low' / 'medium' / 'high' churn risk from P(alive); None where P is NaN."""
    low, high = thresholds
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError("churn thresholds must satisfy 0 <= low <= high <= 1")
    p = np.asarray(probability_active, dtype=float)
    band = np.where(p >= high, "low", np.where(p >= low, "medium", "high")).astype(object)
    band[np.isnan(p)] = None
    return band


@dataclass(frozen=True)
class CLVModel:
    """A fitted BG/NBD (and, when usable, Gamma-Gamma) model on one calibration period."""

    bgnbd: BGNBDFit
    gamma_gamma: GammaGammaFit | None
    calibration_end: str
    time_unit: str
    customers: int
    repeat_customers: int
    sufficiency: DataSufficiency
    gamma_gamma_error: str | None = None

    @property
    def spend_model_usable(self) -> bool:
        gg = self.gamma_gamma
        return gg is not None and gg.q > 1.0

    def _units(self, days: float) -> float:
        return float(days) / unit_days(self.time_unit)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return self.bgnbd.probability_alive(summary["frequency"], summary["recency"], summary["T"])

    def expected_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """Expected purchases in the ``days`` after calibration_end, per customer."""
        return self.bgnbd.conditional_expected_purchases(
            self._units(days), summary["frequency"], summary["recency"], summary["T"]
        )

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected average order value per customer (population mean for x = 0); NaN without a spend model."""
        if not self.spend_model_usable:
            return np.full(len(summary), np.nan)
        return self.gamma_gamma.conditional_expected_spend(summary["frequency"], summary["monetary_value"])

    def clv(
        self,
        summary: pd.DataFrame,
        months: int = 12,
        margin: float = 1.0,
        discount_rate: float = 0.01,
        discount_period: str = "month",
    ) -> np.ndarray:
        """Discounted expected value of the next ``months`` months per customer.

        sum_i (E[Y(i months)] - E[Y((i-1) months)]) * E[M] * margin / (1 + d)^i,
        with d the monthly discount rate (converted from a yearly one if
        ``discount_period='year'``) and purchases of month i discounted at its end.
        """
        d = monthly_rate(discount_rate, discount_period)
        spend = self.expected_spend(summary)
        x, t_x, T = summary["frequency"], summary["recency"], summary["T"]
        total = np.zeros(len(summary))
        previous = np.zeros(len(summary))
        for i in range(1, int(months) + 1):
            cumulative = self.bgnbd.conditional_expected_purchases(self._units(i * DAYS_PER_MONTH), x, t_x, T)
            total += (cumulative - previous) / (1.0 + d) ** i
            previous = cumulative
        return total * spend * margin

    def expected_next_order_days(self, summary: pd.DataFrame, horizon_days: float = 365.0) -> np.ndarray:
        """Days from calibration_end to the expected next order, from the expected purchase rate.

        rate = E[Y(horizon)] / horizon; the next order is expected 1 / rate days
        out. NaN when fewer than one purchase is expected within the horizon
        (the date would fall beyond it).
        """
        expected = self.expected_purchases(summary, horizon_days)
        with np.errstate(divide="ignore"):
            days = horizon_days / expected
        return np.where(expected >= 1.0, days, np.nan)

    def as_dict(self) -> dict:
        return {
            "bg_nbd": self.bgnbd.as_dict(),
            "gamma_gamma": None if self.gamma_gamma is None else self.gamma_gamma.as_dict(),
            "gamma_gamma_error": self.gamma_gamma_error,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "calibration_end": self.calibration_end,
            "time_unit": self.time_unit,
            "data": self.sufficiency.as_dict(),
        }


def fit_clv(
    summary: pd.DataFrame,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    min_history_days: int = DEFAULT_MIN_HISTORY_DAYS,
) -> CLVModel:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers with positive spend.

    Raises :class:`~kairos.clv.summary.InsufficientDataError` below the data
    minimums (pass 0 to disable them). A Gamma-Gamma fit that fails leaves
    ``gamma_gamma=None`` with the reason in ``gamma_gamma_error``.
    """
    sufficiency = check_data_minimums(summary, min_repeat_buyers, min_history_days, raise_error=True)
    if len(summary) == 0:
        raise ValueError("no customers in the summary")
    bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg, gg_error = None, None
    try:
        gg = fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
        if gg.q <= 1.0:
            gg_error = f"q = {gg.q:.4g} <= 1: expected spend is unbounded"
    except (ValueError, RuntimeError) as exc:
        gg_error = str(exc)
    return CLVModel(
        bgnbd=bg,
        gamma_gamma=gg,
        calibration_end=summary.attrs.get("calibration_end"),
        time_unit=summary.attrs.get("time_unit", "week"),
        customers=int(len(summary)),
        repeat_customers=int((summary["frequency"] > 0).sum()),
        sufficiency=sufficiency,
        gamma_gamma_error=gg_error,
    )
