"""Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project}/messages:send."""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import FakeServer, Recorded, Response, bearer

_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{20,}$")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def _error(code: int, status: str, message: str, fcm_code: str | None = None,
           field: str | None = None) -> Response:
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": _FCM_ERROR, "errorCode": fcm_code})
    if field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})
    return Response(code, {"error": {"code": code, "message": message, "status": status, "details": details}})


class FakeFCM(FakeServer):
    """Bearer token, JSON ``{"message": {...}}``, FCM's error shapes.

    ``unregistered`` tokens answer 404 UNREGISTERED; tokens that do not look
    like registration tokens answer 400 INVALID_ARGUMENT; ``foreign`` tokens
    answer 403 SENDER_ID_MISMATCH. ``sent`` lists accepted messages.
    """

    def __init__(self, project_id: str, access_token: str, *, unregistered: set[str] | None = None,
                 foreign: set[str] | None = None) -> None:
        super().__init__()
        self.project_id = project_id
        self.access_token = access_token
        self.unregistered = unregistered or set()
        self.foreign = foreign or set()
        self.sent: list[dict[str, Any]] = []

    def handle(self, request: Recorded) -> Response:
        if bearer(request) != self.access_token:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                                                  "Expected OAuth 2 access token.")
        match = re.match(r"^/v1/projects/([^/]+)/messages:send$", request.path)
        if request.method != "POST" or not match:
            return _error(404, "NOT_FOUND", "The requested URL was not found on this server.")
        if match.group(1) != self.project_id:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", field="message")
        targets = [k for k in ("token", "topic", "condition") if k in message]
        if len(targets) != 1:
            return _error(400, "INVALID_ARGUMENT", "Exactly one of token, topic or condition is required.",
                          field="message")
        for i, (key, value) in enumerate((message.get("data") or {}).items()):
            if not isinstance(value, str):
                return _error(400, "INVALID_ARGUMENT",
                              f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}",
                              field=f"message.data[{i}].value")
        token = message.get("token")
        if token is not None:
            if not _TOKEN.match(token):
                return _error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                              fcm_code="INVALID_ARGUMENT")
            if token in self.unregistered:
                return _error(404, "NOT_FOUND", "Requested entity was not found.", fcm_code="UNREGISTERED")
            if token in self.foreign:
                return _error(403, "PERMISSION_DENIED", "SenderId mismatch", fcm_code="SENDER_ID_MISMATCH")
        name = f"projects/{self.project_id}/messages/0:{uuid.uuid4().hex}"
        if not body.get("validate_only"):
            with self.lock:
                self.sent.append({"name": name, **message})
        return Response(200, {"name": name})
