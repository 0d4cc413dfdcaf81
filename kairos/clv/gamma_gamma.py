"""The Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005, "RFM and
CLV: using iso-value curves for customer base analysis"; Fader & Hardie 2013,
"The Gamma-Gamma model of monetary value").

Transaction values z ~ Gamma(p, nu) around a customer's mean, nu ~ Gamma(q,
gamma) across customers; the observed average ``m`` of ``x`` repeat
transactions is the sufficient statistic. Fitted on customers with x > 0, m > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from kairos.clv._optim import fit_ml


def _arrays(x, m):
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    if np.any(x <= 0) or np.any(~(m > 0)):
        raise ValueError("the Gamma-Gamma likelihood needs x > 0 and m > 0")
    return x, m


def log_likelihood(params, x, m) -> np.ndarray:
    """Per-customer log density of the average spend m over x transactions."""
    p, q, g = params
    x, m = _arrays(x, m)
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + x * m)
    )


def negll_and_grad(params, x, m) -> tuple[float, np.ndarray]:
    p, q, g = params
    with np.errstate(all="ignore"):
        px = p * x
        log_gxm = np.log(g + x * m)
        ll = (
            gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
            + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * log_gxm
        )
        psi = digamma(px + q)
        d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_gxm)
        d_q = psi - digamma(q) + np.log(g) - log_gxm
        d_g = q / g - (px + q) / (g + x * m)
    total = float(np.sum(ll))
    if not np.isfinite(total):
        return np.inf, np.zeros(3)
    return -total, -np.array([d_p.sum(), d_q.sum(), d_g.sum()])


def conditional_expected_spend(params, x, m) -> np.ndarray:
    """E[M | x, m]: expected average transaction value of a customer.

    ``p (gamma + x m) / (p x + q - 1)``; with x = 0 (or m missing/non-positive)
    this is the population mean ``p gamma / (q - 1)``. Needs q > 1 (NaN otherwise).
    """
    p, q, g = params
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    usable = (x > 0) & (m > 0)
    xs = np.where(usable, x, 0.0)
    ms = np.where(usable, m, 0.0)
    if q <= 1.0:
        return np.full(np.broadcast(xs, ms).shape, np.nan)
    return p * (g + xs * ms) / (p * xs + q - 1.0)


@dataclass(frozen=True)
class GammaGammaFit:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int
    converged: bool = True
    std_errors: dict | None = None
    #: Pearson correlation of x and m over the fitted customers; the model assumes
    #: spend is independent of frequency, so a large |value| is a warning sign
    frequency_spend_correlation: float | None = None

    @property
    def params(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)

    @property
    def population_mean_spend(self) -> float:
        """E[M] for a customer with no repeat purchase (NaN if q <= 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("nan")

    def conditional_expected_spend(self, x, m) -> np.ndarray:
        return conditional_expected_spend(self.params, x, m)

    def as_dict(self) -> dict:
        return {
            "p": self.p,
            "q": self.q,
            "gamma": self.gamma,
            "log_likelihood": self.log_likelihood,
            "customers": self.customers,
            "converged": self.converged,
            "std_errors": self.std_errors,
            "frequency_spend_correlation": self.frequency_spend_correlation,
        }


def fit_gamma_gamma(frequency, monetary_value, starts=None) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit.

    Pass only customers with frequency > 0 and monetary_value > 0. Spend is
    rescaled by its mean for the optimisation (gamma is a scale parameter, p
    and q are scale-free); gamma and the log-likelihood are reported in the
    original currency units.
    """
    x, m = _arrays(frequency, monetary_value)
    if x.size < 3:
        raise ValueError(f"Gamma-Gamma needs at least 3 repeat customers with positive spend, got {x.size}")
    scale = float(np.mean(m))
    ms = m / scale
    if starts is None:
        starts = [(1.0, 1.0, 1.0), (5.0, 3.0, 2.0), (2.0, 5.0, 4.0), (10.0, 10.0, 10.0)]
    res = fit_ml(lambda th: negll_and_grad(th, x, ms), starts, scale=float(x.size))
    p, q, g = (float(v) for v in res.params)
    se = res.std_errors
    corr = float(np.corrcoef(x, m)[0, 1]) if np.std(x) > 0 and np.std(m) > 0 else None
    return GammaGammaFit(
        p=p,
        q=q,
        gamma=g * scale,
        # density of m = density of m/scale divided by scale, per customer
        log_likelihood=res.log_likelihood - x.size * np.log(scale),
        customers=int(x.size),
        converged=res.converged,
        std_errors={"p": float(se[0]), "q": float(se[1]), "gamma": float(se[2] * scale)},
        frequency_spend_correlation=corr,
    )
