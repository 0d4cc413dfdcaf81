"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005,
"Counting your customers the easy way: an alternative to the Pareto/NBD model").

While active a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after
each repeat purchase they drop out for good with probability p ~ Beta(a, b).
Inputs per customer: x repeat purchases, t_x time of the last purchase and T
length of observation, both measured from the first purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from kairos.clv._optim import fit_ml


def _arrays(x, t_x, T):
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    if np.any(x < 0) or np.any(t_x < 0) or np.any(T < t_x - 1e-9):
        raise ValueError("BG/NBD needs x >= 0 and 0 <= t_x <= T")
    return x, t_x, T


def _terms(params, x, t_x, T):
    """log A1, log A2, log A3 of the likelihood (A3 = -inf where x = 0)."""
    r, alpha, a, b = params
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    xs = np.where(repeat, x, 1.0)  # keeps betaln's argument positive where x = 0
    a3 = np.where(
        repeat,
        betaln(a + 1, b + xs - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1, a2, a3


def log_likelihood(params, x, t_x, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6), vectorised."""
    x, t_x, T = _arrays(x, t_x, T)
    a1, a2, a3 = _terms(np.asarray(params, dtype=float), x, t_x, T)
    return a1 + np.logaddexp(a2, a3)


def negll_and_grad(params, x, t_x, T, weights=None) -> tuple[float, np.ndarray]:
    """Total negative log-likelihood and its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = params
    w = np.ones_like(x) if weights is None else weights
    with np.errstate(all="ignore"):
        a1, a2, a3 = _terms(params, x, t_x, T)
        lse = np.logaddexp(a2, a3)
        ll = a1 + lse
        w2 = np.exp(a2 - lse)
        w3 = np.exp(a3 - lse)  # 0 where x = 0
        repeat = x > 0
        xs = np.where(repeat, x, 1.0)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w2 * np.log(alpha + T) - np.where(
            repeat, w3 * np.log(alpha + t_x), 0.0
        )
        d_alpha = r / alpha - w2 * (r + x) / (alpha + T) - np.where(repeat, w3 * (r + x) / (alpha + t_x), 0.0)
        psi_ab = digamma(a + b)
        psi_abx = digamma(a + b + x)
        d_a = w2 * (psi_ab - psi_abx) + np.where(repeat, w3 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx), 0.0)
        d_b = w2 * (digamma(b + x) - digamma(b) + psi_ab - psi_abx) + np.where(
            repeat, w3 * (digamma(b + xs - 1) - digamma(b) + psi_ab - psi_abx), 0.0
        )
    total = float(np.sum(w * ll))
    if not np.isfinite(total):
        return np.inf, np.zeros(4)
    grad = np.array([np.sum(w * d) for d in (d_r, d_alpha, d_a, d_b)])
    return -total, -grad


def probability_alive(params, x, t_x, T) -> np.ndarray:
    """P(active at T | x, t_x, T) (FHL 2005, eq. 11); exactly 1 when x = 0."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    with np.errstate(over="ignore", divide="ignore"):
        log_odds = np.log(a) - np.log(b + xs - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        out = np.where(repeat, 1.0 / (1.0 + np.exp(log_odds)), 1.0)
    return out


def _tail_factor(params, t, x, T) -> np.ndarray:
    """((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t),

    evaluated through Euler's transformation as
    (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays well conditioned
    for large x (the direct form multiplies a vanishing power by a diverging series).
    """
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    return np.power(1.0 - z, a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)


def conditional_expected_purchases(params, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005, eq. 10)."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    t = np.asarray(t, dtype=float)
    if abs(a - 1.0) < 1e-7:  # removable singularity of the closed form at a = 1
        a = 1.0 + 1e-7
        params = (r, alpha, a, b)
    head = (a + b + x - 1.0) / (a - 1.0)
    body = head * (1.0 - _tail_factor(params, t, x, T))
    return np.where(t > 0, body * probability_alive(params, x, t_x, T), 0.0)


def expected_purchases_new_customer(params, t) -> np.ndarray:
    """E[X(t)] for a customer just acquired (FHL 2005, eq. 9)."""
    t = np.asarray(t, dtype=float)
    zero = np.zeros_like(t)
    return conditional_expected_purchases(params, t, zero, zero, zero)


@dataclass(frozen=True)
class BGNBDFit:
    """Fitted BG/NBD parameters with the prediction functions bound to them."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    converged: bool = True
    std_errors: dict | None = None

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    def probability_alive(self, x, t_x, T) -> np.ndarray:
        return probability_alive(self.params, x, t_x, T)

    def conditional_expected_purchases(self, t, x, t_x, T) -> np.ndarray:
        return conditional_expected_purchases(self.params, t, x, t_x, T)

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        return expected_purchases_new_customer(self.params, t)

    def as_dict(self) -> dict:
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "log_likelihood": self.log_likelihood,
            "customers": self.customers,
            "converged": self.converged,
            "std_errors": self.std_errors,
        }


def fit_bgnbd(frequency, recency, T, starts=None) -> BGNBDFit:
    """Maximum-likelihood BG/NBD fit on per-customer (x, t_x, T).

    Identical (x, t_x, T) rows are collapsed into weights first, so daily data
    with many customers stays cheap.
    """
    x, t_x, T = _arrays(frequency, recency, T)
    if x.size == 0:
        raise ValueError("no customers to fit")
    rows, weights = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, utx, uT = rows[:, 0], rows[:, 1], rows[:, 2]
    w = weights.astype(float)
    mean_T = float(np.mean(T)) or 1.0
    if starts is None:
        rate = max(float(np.mean(x)) / mean_T, 1e-3)
        starts = [
            (1.0, 1.0, 1.0, 1.0),
            (0.5, 0.5 / rate, 0.8, 2.5),
            (1.0, mean_T, 1.0, 3.0),
            (0.25, 0.25 / rate, 0.5, 5.0),
        ]
    res = fit_ml(lambda th: negll_and_grad(th, ux, utx, uT, w), starts, scale=float(x.size))
    names = ("r", "alpha", "a", "b")
    r, alpha, a, b = (float(v) for v in res.params)
    return BGNBDFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=res.log_likelihood,
        customers=int(x.size),
        converged=res.converged,
        std_errors={n: float(s) for n, s in zip(names, res.std_errors)},
    )
