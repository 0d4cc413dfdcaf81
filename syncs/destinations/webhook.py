"""Webhook destination: POST each batch as one signed JSON document.

Request (one per batch)::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <batch_id>
    X-Kairos-Timestamp: <unix seconds>
    X-Kairos-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = the secret>

    {"batch_id": "...", "sync": "...", "operation": "insert", "sent_at": "2026-11-23T10:15:00Z",
     "record_keys": ["k1", "k2"], "rows": [{...}, {...}]}

``rows[i]`` is the payload of ``record_keys[i]``. ``sent_at`` equals the
timestamp header and sits inside the signed body, so a receiver can refuse
replays older than a few minutes. Retries resend the identical bytes with the
same ``Idempotency-Key``: receivers deduplicate on it, which is why
:meth:`WebhookDestination.batch_delivered` answers False (resending is safe).

Verifying on the receiving side (Python)::

    expected = "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["X-Kairos-Signature"])

Response: any 2xx accepts the batch. The body may list rows the receiver
refused for good, by position or by key; they become 'rejected' row outcomes::

    {"rejected": [{"index": 3, "reason": "unknown customer"},
                  {"record_key": "k9", "reason": "...", "status_code": 422}]}

429, 5xx, time-outs and dropped connections are retried (``syncs.http``);
any other status fails the batch.

Definition options::

    destination:
      type: webhook
      url: https://hooks.example.com/kairos     # http(s)
      secret_env: KAIROS_WEBHOOK_SECRET          # env var holding the HMAC secret
      bearer_token_env: KAIROS_WEBHOOK_TOKEN     # optional: Authorization: Bearer <token>
      headers: {X-Team: crm}                     # optional extra headers (no secrets)
      # shared HTTP options: timeout_seconds, max_attempts, rate_limit_per_second, ... (syncs.http)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from syncs import http
from syncs.destinations.base import Batch, BatchOutcome, Destination

SIGNATURE_HEADER = "X-Kairos-Signature"
TIMESTAMP_HEADER = "X-Kairos-Timestamp"
_OPTIONS = frozenset({"url", "secret_env", "bearer_token_env", "headers"})
_RESERVED_HEADERS = frozenset({"content-type", "idempotency-key", SIGNATURE_HEADER.lower(),
                               TIMESTAMP_HEADER.lower(), "authorization", "content-length", "host"})


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Kairos-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature header (for receivers and tests)."""
    return hmac.compare_digest(sign(secret, body), signature or "")


class WebhookDestination(Destination):
    """POSTs each batch as signed JSON (see the module docstring)."""

    type_name: ClassVar[str] = "webhook"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, _OPTIONS)
        out: dict[str, Any] = {"url": http.check_base_url(options, "url")}
        out["secret_env"] = http.check_env_name(options, "secret_env")
        out["bearer_token_env"] = http.check_env_name(options, "bearer_token_env", required=False)
        headers = options.get("headers") or {}
        if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in headers.items()):
            raise ValueError("destination.headers: must map header names to text values")
        clash = sorted(k for k in headers if k.lower() in _RESERVED_HEADERS)
        if clash:
            raise ValueError(f"destination.headers: {clash[0]!r} is set by Kairos (secrets go in *_env options)")
        out["headers"] = dict(headers)
        out.update(http.validate_http_options(options))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        # idempotent: fills defaults when the config was built without validate_options
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None
        self._secret: bytes = b""

    def describe(self) -> str:
        return f"webhook {self.options['url']}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        self._secret = http.env_secret(self.options, "secret_env").encode()  # type: ignore[union-attr]
        headers = dict(self.options.get("headers") or {})
        token = http.env_secret(self.options, "bearer_token_env", required=False) \
            if self.options.get("bearer_token_env") else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = http.HttpClient.from_options(self.options["url"], self.options, headers=headers,
                                                   name=f"webhook:{self.sync.name}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        assert self.client is not None
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        keys = batch.keys.to_pylist()
        head = json.dumps({
            "batch_id": batch.batch_id,
            "sync": self.sync.name,
            "operation": batch.operation,
            "sent_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "record_keys": keys,
        }, ensure_ascii=False, separators=(",", ":"))
        # the rows come pre-encoded column by column (Batch.json_rows, once per commit
        # group): the same document as json.dumps of rows.to_pylist(), several times cheaper
        body = (head[:-1] + ',"rows":[' + ",".join(batch.json_rows()) + "]}").encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch.batch_id,
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        response = self.client.request("POST", self.options["url"], data=body, headers=headers)
        http.raise_for_status(response, f"webhook batch {batch.batch_id}")
        return BatchOutcome(outputs=[self.options["url"]],
                            row_outcomes=self._rejections(http.json_or_none(response), keys, response.status_code))

    def batch_delivered(self, batch_id: str) -> bool:
        # receivers deduplicate on Idempotency-Key: resending is the safe answer
        return False

    @staticmethod
    def _rejections(body: Any, keys: list[str], status: int) -> Any:
        if not isinstance(body, Mapping) or not isinstance(body.get("rejected"), list):
            return None
        outcomes = http.RowOutcomes()
        known = set(keys)
        for item in body["rejected"]:
            if not isinstance(item, Mapping):
                continue
            key = item.get("record_key")
            index = item.get("index")
            if key is None and isinstance(index, int) and 0 <= index < len(keys):
                key = keys[index]
            if key not in known:
                continue  # a receiver naming rows we did not send: ignore rather than corrupt the ledger
            code = item.get("status_code")
            outcomes.add(str(key), "rejected", status_code=code if isinstance(code, int) else status,
                         reason=str(item.get("reason") or "rejected by the receiver"))
        return outcomes.table()
