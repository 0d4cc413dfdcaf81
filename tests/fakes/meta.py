"""Meta Marketing API: POST / DELETE /v{version}/{audience_id}/users (custom audience members)."""

from __future__ import annotations

import json
import re
from typing import Any

from . import FakeServer, Recorded, Response, bearer

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
SCHEMA_KEYS = frozenset({"EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "GEN", "DOBY", "DOBM",
                         "DOBD", "EXTERN_ID", "MADID", "FI", "LOOKALIKE_VALUE"})
CLEAR_KEYS = frozenset({"EXTERN_ID", "MADID", "LOOKALIKE_VALUE"})


def _error(message: str, code: int, status: int = 400, subcode: int | None = None) -> Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error})


class FakeMetaGraph(FakeServer):
    """Checks the access token (Bearer header or ``access_token``), the form fields
    ``payload`` and ``session``, the schema, and that hashed keys are SHA-256 hex.

    Entries whose hashed values are not 64-hex count as invalid and appear in
    ``invalid_entry_samples``, and so do rows holding a value of ``refuse``
    (the "some rows rejected" fault); ``members`` is the audience as a set of rows.
    """

    def __init__(self, audience_id: str, access_token: str, *, app_secret: str | None = None,
                 refuse: set[str] | None = None) -> None:
        super().__init__()
        self.audience_id = audience_id
        self.access_token = access_token
        self.app_secret = app_secret
        self.refuse = refuse or set()
        self.members: set[tuple[tuple[str, str], ...]] = set()
        self.sessions: dict[int, list[dict[str, Any]]] = {}

    def handle(self, request: Recorded) -> Response:
        form = request.form() if request.body else {k: v[-1] for k, v in request.query.items()}
        token = bearer(request) or form.get("access_token")
        if token != self.access_token:
            return _error("Invalid OAuth access token - Cannot parse access token", 190)
        if self.app_secret is not None:
            import hashlib
            import hmac

            proof = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if form.get("appsecret_proof") != proof:
                return _error("Invalid appsecret_proof provided in the API argument", 100)
        match = re.match(r"^/v\d+\.\d+/(\d+)/users$", request.path)
        if not match or request.method not in ("POST", "DELETE"):
            return _error("Unknown path components", 2500)
        if match.group(1) != self.audience_id:
            return _error(f"Unsupported post request. Object with ID '{match.group(1)}' does not exist", 100, 400, 33)
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _error("(#100) The parameter payload is required", 100)
        try:
            payload = json.loads(form["payload"])
            session = json.loads(form["session"]) if "session" in form else None
        except (KeyError, ValueError):
            return _error("(#100) The parameter payload is required", 100)
        schema, data = payload.get("schema"), payload.get("data")
        if isinstance(schema, str):
            schema = [schema]
        if not isinstance(schema, list) or not schema or set(schema) - SCHEMA_KEYS or len(set(schema)) != len(schema):
            return _error(f"(#100) Invalid schema: {schema}", 100)
        if not isinstance(data, list) or len(data) > 10_000:
            return _error("(#100) data must be a list of at most 10000 rows", 100)
        if session is not None and (not isinstance(session.get("session_id"), int)
                                    or not isinstance(session.get("batch_seq"), int)
                                    or not isinstance(session.get("last_batch_flag"), bool)):
            return _error("(#100) session must have session_id, batch_seq, last_batch_flag", 100)
        invalid: dict[str, str] = {}
        valid_rows = []
        for row in data:
            if not isinstance(row, list) or len(row) != len(schema):
                invalid[json.dumps(row)[:64]] = "Incorrect number of fields"
                continue
            refused = [v for v in row if v in self.refuse]
            if refused:
                invalid[refused[0]] = "Data does not match the expected format for this key"
                continue
            bad = [v for k, v in zip(schema, row) if v and k not in CLEAR_KEYS and not _HEX64.match(str(v))]
            if bad or not any(row):
                invalid[str(bad[0]) if bad else ""] = "Invalid format: not a SHA-256 hash"
                continue
            valid_rows.append(tuple((k, v) for k, v in zip(schema, row) if v))
        with self.lock:
            for member in valid_rows:
                if request.method == "POST":
                    self.members.add(member)
                else:
                    self.members.discard(member)
            if session is not None:
                self.sessions.setdefault(session["session_id"], []).append(session)
        return Response(200, {
            "audience_id": self.audience_id,
            "session_id": str(session["session_id"]) if session else None,
            "num_received": len(data),
            "num_invalid_entries": len(data) - len(valid_rows),
            "invalid_entry_samples": invalid,
        })
