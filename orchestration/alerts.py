"""Alerts to a webhook: failed runs, failed blocking checks, rejected landing files.

Configured by environment variables (nothing to set up in Dagster):

* ``KAIROS_ALERT_WEBHOOK_URL``: where alerts are POSTed as JSON (the same
  variable the sync engine's rejection alerts use). Slack, Mattermost, Teams
  and most chat tools show the ``text`` field; the other fields are for
  anything else. Unset: alerts are only logged.
* ``KAIROS_ALERT_TIMEOUT_SECONDS`` (default 5): per request.

Payload::

    {"text": "Kairos: run kairos_realtime 1a2b3c failed: circuit breaker open ...",
     "kind": "run_failed" | "blocking_check_failed" | "landing_file_rejected",
     "source": "kairos", "sent_at": "2026-11-23T10:15:00Z", ...kind-specific fields}

A failing webhook never fails a run: the error is logged and the function
returns False.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

ALERT_ENV = "KAIROS_ALERT_WEBHOOK_URL"
TIMEOUT_ENV = "KAIROS_ALERT_TIMEOUT_SECONDS"

log = logging.getLogger("kairos.alerts")


def alert_url() -> str | None:
    """The configured webhook URL, or None."""
    url = os.environ.get(ALERT_ENV, "").strip()
    return url or None


def build_alert(kind: str, text: str, **fields: Any) -> dict[str, Any]:
    """The JSON document of one alert."""
    return {
        "text": text,
        "kind": kind,
        "source": "kairos",
        "sent_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **fields,
    }


def post_alert(kind: str, text: str, *, log: Any = None, **fields: Any) -> bool:
    """Log the alert and POST it to ``$KAIROS_ALERT_WEBHOOK_URL`` if set.

    Returns True when the webhook accepted it (2xx). ``log`` is a Dagster or
    stdlib logger to report on.
    """
    logger = log or globals()["log"]
    payload = build_alert(kind, text, **fields)
    logger.warning(f"alert {kind}: {text}")
    url = alert_url()
    if not url:
        return False
    body = json.dumps(payload, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "kairos-alerts"})
    try:
        timeout = float(os.environ.get(TIMEOUT_ENV, "5") or 5)
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.error(f"alert webhook {url} failed: {exc}")
        return False


def failed_checks_of_run(instance: Any, run_id: str) -> list[dict[str, Any]]:
    """Failed asset-check evaluations of one run: key, check, blocking, severity, description."""
    from dagster import DagsterEventType

    records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    failed = []
    for record in records:
        evaluation = record.get_dagster_event().event_specific_data
        if evaluation.passed:
            continue
        failed.append({
            "asset": evaluation.asset_key.to_user_string(),
            "check": evaluation.check_name,
            "blocking": bool(getattr(evaluation, "blocking", False)),
            "severity": getattr(evaluation.severity, "value", str(evaluation.severity)),
            "description": evaluation.description,
        })
    return failed


def skipped_steps_of_run(instance: Any, run_id: str) -> list[str]:
    """Steps a run skipped (downstream of a failed blocking check, for example)."""
    from dagster import DagsterEventType

    return sorted({r.get_dagster_event().step_key for r in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SKIPPED)
                   if r.get_dagster_event().step_key})


def run_failure_text(job_name: str, run_id: str, failed_checks: Sequence[dict[str, Any]],
                     error: str | None = None, skipped: Sequence[str] = ()) -> tuple[str, str]:
    """``(kind, text)`` of a failed run: a circuit breaker when a blocking check failed."""
    blocking = [c for c in failed_checks if c.get("blocking")]
    if blocking:
        names = ", ".join(f"{c['check']} on {c['asset']}" for c in blocking)
        reasons = "; ".join(str(c.get("description") or "")[:200] for c in blocking)
        text = (f"Kairos: circuit breaker open in {job_name} (run {run_id[:8]}): blocking check(s) {names} failed"
                f" ({reasons}); downstream syncs did not run")
        if skipped:
            text += f" [skipped: {', '.join(skipped[:8])}]"
        return "blocking_check_failed", text
    text = f"Kairos: run {job_name} {run_id[:8]} failed"
    if error:
        text += f": {error[:300]}"
    return "run_failed", text
