"""Rejection-rate alerts: when a run's share of rejected rows exceeds the
definition's ``alert_rejection_rate``, post a summary to a webhook.

The URL comes from ``KAIROS_ALERT_WEBHOOK_URL`` (Slack, Teams, Mattermost and
most chat tools accept the ``text`` field; the structured fields are there
for anything else). Without the variable the alert is only logged; either
way the engine marks the result (``SyncResult.alert``) and fails the run.

Payload::

    {"text": "Kairos sync abandoned_cart_email: 120 of 2,000 rows rejected (6.0%) ...",
     "sync": "...", "run_id": "...", "rejected": 120, "handed_over": 2000,
     "rejection_rate": 0.06, "threshold": 0.05, "destination": "...",
     "top_reasons": [{"reason": "invalid address", "status_code": 422, "rows": 97}, ...]}
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from kairos.warehouse import qualified

if TYPE_CHECKING:
    from kairos.warehouse import Warehouse
    from syncs.config import SyncConfig
    from syncs.engine import SyncResult

ALERT_ENV = "KAIROS_ALERT_WEBHOOK_URL"
TIMEOUT_S = (3.0, 10.0)

log = logging.getLogger("kairos.syncs.alerts")


def top_reasons(wh: "Warehouse", sync_name: str, run_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """The most frequent rejection reasons of one run, from the ledger."""
    rows = wh.fetchall(
        f"select reason, status_code, count(*) as n from {qualified('ops', 'sync_records')} "
        "where sync_name = ? and run_id = ? and status = 'rejected' group by reason, status_code "
        f"order by n desc, reason limit {int(limit)}",
        [sync_name, run_id],
    )
    return [{"reason": r[0], "status_code": r[1], "rows": int(r[2])} for r in rows]


def build_payload(config: "SyncConfig", result: "SyncResult", reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON document posted to the alert webhook."""
    handed = result.sent + result.rejected + result.failed
    text = (f"Kairos sync {config.name}: {result.rejected:,} of {handed:,} rows rejected "
            f"({result.rejection_rate:.1%}, threshold {config.alert_rejection_rate:.1%}), run {result.run_id}")
    if reasons:
        text += "; top reasons: " + "; ".join(f"{r['reason'] or 'no reason'} ({r['rows']})" for r in reasons[:3])
    return {
        "text": text,
        "sync": config.name,
        "run_id": result.run_id,
        "destination": result.destination or config.destination.type,
        "channel": config.channel,
        "rejected": result.rejected,
        "handed_over": handed,
        "rejection_rate": result.rejection_rate,
        "threshold": config.alert_rejection_rate,
        "top_reasons": reasons,
    }


def rejection_alert(wh: "Warehouse", config: "SyncConfig", result: "SyncResult") -> bool:
    """Log the alert and post it to ``$KAIROS_ALERT_WEBHOOK_URL`` if set.

    Returns True when it was posted. Raises when the post fails (the engine
    notes that on the result; the run fails either way).
    """
    try:
        reasons = top_reasons(wh, config.name, result.run_id)
    except Exception:  # noqa: BLE001 - the alert matters more than its details
        reasons = []
    payload = build_payload(config, result, reasons)
    log.warning("%s", payload["text"])
    url = os.environ.get(ALERT_ENV, "").strip()
    if not url:
        return False
    import requests

    last: Exception | None = None
    for _ in range(2):  # one retry: a chat webhook hiccup should not lose the alert
        try:
            response = requests.post(url, json=payload, timeout=TIMEOUT_S)
            if response.status_code < 300:
                return True
            last = RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            if response.status_code < 500 and response.status_code != 429:
                break
        except requests.RequestException as exc:
            last = exc
    raise RuntimeError(f"posting the alert to {ALERT_ENV} failed: {last}")


__all__ = ["ALERT_ENV", "build_payload", "rejection_alert", "top_reasons"]
