"""Predictive customer lifetime value: BG/NBD purchases x Gamma-Gamma spend.

Implemented here from the papers (no lifetimes/btyd dependency):

* :func:`summarise_transactions` - transactions -> per-customer x, t_x, T, m;
* :func:`fit_bgnbd` / :class:`BGNBDFit` - Fader, Hardie & Lee (2005) BG/NBD;
* :func:`fit_gamma_gamma` / :class:`GammaGammaFit` - Gamma-Gamma spend model;
* :func:`fit_clv` / :class:`CLVModel` - both, with data minimums, CLV, next order;
* :func:`score_customers` - order table -> per-customer traits (pure);
* :func:`score_warehouse` - the same from ``marts.fct_orders`` into a warehouse table;
* :func:`cli_fit_clv` / :func:`add_fit_clv_parser` - the ``fit-clv`` command.

Names are imported lazily, so ``from kairos.clv import add_fit_clv_parser`` (what
``kairos --help`` needs) does not load numpy, scipy, pandas or pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BGNBDFit": "bgnbd",
    "fit_bgnbd": "bgnbd",
    "GammaGammaFit": "gamma_gamma",
    "fit_gamma_gamma": "gamma_gamma",
    "CLVModel": "model",
    "churn_risk_band": "model",
    "fit_clv": "model",
    "DataSufficiency": "summary",
    "InsufficientDataError": "summary",
    "check_data_minimums": "summary",
    "summarise_transactions": "summary",
    "ORDERS_SQL": "traits",
    "TRAITS_SCHEMA": "traits",
    "score_customers": "traits",
    "score_warehouse": "traits",
    "traits_to_arrow": "traits",
    "add_fit_clv_parser": "cli",
    "cli_fit_clv": "cli",
    "run_fit_clv": "cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kairos.clv' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kairos.clv.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
