"""A webhook receiver that checks Kairos's signature and deduplicates on Idempotency-Key."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from . import FakeServer, Recorded, Response


class FakeWebhook(FakeServer):
    """Accepts ``POST /hook``; 401 on a bad signature, 400 on a malformed body.

    ``reject`` (row -> reason or None) makes the receiver refuse some rows in
    a 2xx answer, by index. ``delivered`` maps Idempotency-Key -> document,
    applied once however often a batch is resent.
    """

    def __init__(self, secret: bytes, *, path: str = "/hook",
                 reject: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.reject = reject
        self.delivered: dict[str, dict[str, Any]] = {}
        self.duplicates = 0

    def handle(self, request: Recorded) -> Response:
        if request.method != "POST" or request.path != self.path:
            return Response(404, {"error": "not found"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response(415, {"error": "expected application/json"})
        expected = "sha256=" + hmac.new(self.secret, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-kairos-signature", "")):
            return Response(401, {"error": "bad signature"})
        key = request.headers.get("idempotency-key")
        if not key or not request.headers.get("x-kairos-timestamp", "").isdigit():
            return Response(400, {"error": "Idempotency-Key and X-Kairos-Timestamp are required"})
        try:
            document = json.loads(request.body)
        except ValueError:
            return Response(400, {"error": "invalid JSON"})
        rows, keys = document.get("rows"), document.get("record_keys")
        if not isinstance(rows, list) or not isinstance(keys, list) or len(rows) != len(keys) \
                or document.get("batch_id") != key:
            return Response(400, {"error": "rows / record_keys / batch_id do not agree"})
        with self.lock:
            if key in self.delivered:
                self.duplicates += 1
            else:
                self.delivered[key] = document
        rejected = []
        if self.reject is not None:
            for index, row in enumerate(rows):
                reason = self.reject(row)
                if reason:
                    rejected.append({"index": index, "reason": reason})
        return Response(200, {"accepted": len(rows) - len(rejected), "rejected": rejected})
