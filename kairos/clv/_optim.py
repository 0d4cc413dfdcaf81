"""Maximum-likelihood helper shared by the BG/NBD and Gamma-Gamma fits.

Parameters are optimised on the log scale (all are positive) with L-BFGS-B and
an analytic gradient, from several starting points; the best run is polished by
a second L-BFGS-B pass with tight tolerances. Standard errors come from a
finite-difference Hessian of the analytic gradient in the natural parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

# exp(+-20) keeps every parameter in (2e-9, 5e8): wide, but never overflowing
LOG_BOUND = 20.0


@dataclass(frozen=True)
class MLResult:
    params: np.ndarray  # natural scale
    log_likelihood: float
    converged: bool
    grad_norm: float
    std_errors: np.ndarray  # NaN where the Hessian is not invertible
    message: str


def fit_ml(
    negll_grad_natural: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: Sequence[Sequence[float]],
    scale: float,
) -> MLResult:
    """Minimise a negative log-likelihood given on natural (positive) parameters.

    ``negll_grad_natural(theta)`` returns (-LL, d(-LL)/d theta); ``scale`` (the
    number of observations) normalises the objective so tolerances mean the
    same whatever the data size.
    """

    def objective(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(log_theta)
        value, grad = negll_grad_natural(theta)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(log_theta)
        return value / scale, grad * theta / scale

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(starts[0])
    best = None
    for start in starts:
        x0 = np.clip(np.log(np.asarray(start, dtype=float)), -LOG_BOUND + 1, LOG_BOUND - 1)
        with np.errstate(all="ignore"):
            res = minimize(
                objective, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
            )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise RuntimeError("maximum-likelihood fit failed from every starting point")
    # polish: restart from the best point (resets the L-BFGS memory)
    with np.errstate(all="ignore"):
        polish = minimize(
            objective, best.x, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-16, "gtol": 1e-11},
        )
    if np.isfinite(polish.fun) and polish.fun <= best.fun:
        best = polish

    theta = np.exp(best.x)
    value, grad = negll_grad_natural(theta)
    grad_log = grad * theta / scale
    at_bound = np.any(np.abs(best.x) >= LOG_BOUND - 1e-6)
    grad_norm = float(np.max(np.abs(grad_log)))
    converged = bool(np.isfinite(value) and grad_norm < 1e-5 and not at_bound)
    return MLResult(
        params=theta,
        log_likelihood=float(-value),
        converged=converged,
        grad_norm=grad_norm,
        std_errors=_std_errors(negll_grad_natural, theta),
        message=str(best.message) + (" (a parameter is at its bound)" if at_bound else ""),
    )


def _std_errors(negll_grad_natural: Callable, theta: np.ndarray) -> np.ndarray:
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        h = 1e-5 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        hess[:, i] = (negll_grad_natural(up)[1] - negll_grad_natural(down)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    return np.where(np.isfinite(se), se, np.nan)
