"""A Braze REST API: /users/track, /v2/subscription/status/set, /campaigns/trigger/send."""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import FakeServer, Recorded, Response, bearer

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FakeBraze(FakeServer):
    """Validates like Braze: Bearer REST key, JSON bodies, batch limits, per-object errors.

    ``profiles`` holds the merged attributes by external_id; ``subscriptions``
    maps ``(group, external_id)`` to 'subscribed' / 'unsubscribed';
    ``dispatches`` lists accepted campaign triggers.
    """

    def __init__(self, api_key: str, *, campaigns: set[str] | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.campaigns = campaigns or set()
        self.profiles: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[tuple[str, str], str] = {}
        self.dispatches: list[dict[str, Any]] = []

    def handle(self, request: Recorded) -> Response:
        if bearer(request) != self.api_key:
            return Response(401, {"message": "Invalid API key: ****"})
        if request.method != "POST":
            return Response(405, {"message": "method not allowed"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response(400, {"message": "Content-Type must be application/json"})
        try:
            body = request.json()
        except ValueError:
            return Response(400, {"message": "Received unparseable response body"})
        routes = {"/users/track": self._track, "/v2/subscription/status/set": self._subscription,
                  "/campaigns/trigger/send": self._trigger}
        route = routes.get(request.path)
        return route(body) if route else Response(404, {"message": "no such endpoint"})

    def _track(self, body: Any) -> Response:
        attributes = body.get("attributes") if isinstance(body, dict) else None
        if not isinstance(attributes, list) or not attributes:
            return Response(400, {"message": "Valid data must be provided in the 'attributes', 'events', "
                                             "or 'purchases' fields."})
        if len(attributes) > 75:
            return Response(400, {"message": "Too many attributes objects (max 75)"})
        errors = []
        with self.lock:
            for index, attrs in enumerate(attributes):
                external_id = attrs.get("external_id") if isinstance(attrs, dict) else None
                if not external_id:
                    errors.append({"type": "Missing user identifier", "input_array": "attributes", "index": index})
                    continue
                email = attrs.get("email")
                if email is not None and not _EMAIL.match(str(email)):
                    errors.append({"type": f"'{email}' is not a valid email address",
                                   "input_array": "attributes", "index": index})
                    continue
                if attrs.get("_update_existing_only") and external_id not in self.profiles:
                    continue  # Braze silently skips: not an error
                profile = self.profiles.setdefault(external_id, {})
                for key, value in attrs.items():
                    if key == "subscription_groups":
                        for group in value:
                            self.subscriptions[(group["subscription_group_id"], external_id)] = \
                                group["subscription_state"]
                    elif not key.startswith("_"):
                        profile[key] = value
        processed = len(attributes) - len(errors)
        if processed == 0:
            return Response(400, {"message": "Valid data must be provided in the 'attributes', 'events', "
                                             "or 'purchases' fields.", "errors": errors})
        body_out: dict[str, Any] = {"attributes_processed": processed, "message": "success"}
        if errors:
            body_out["errors"] = errors
        return Response(201, body_out)

    def _subscription(self, body: Any) -> Response:
        groups = body.get("subscription_groups") if isinstance(body, dict) else None
        if not isinstance(groups, list) or not groups:
            return Response(400, {"message": "subscription_groups is required"})
        with self.lock:
            for group in groups:
                ids = group.get("external_ids") or []
                state = group.get("subscription_state")
                if not group.get("subscription_group_id") or state not in ("subscribed", "unsubscribed"):
                    return Response(400, {"message": "subscription_group_id and a valid subscription_state "
                                                     "are required"})
                if not ids or len(ids) > 50:
                    return Response(400, {"message": "between 1 and 50 external_ids are allowed"})
                for external_id in ids:
                    self.subscriptions[(group["subscription_group_id"], external_id)] = state
        return Response(201, {"message": "success"})

    def _trigger(self, body: Any) -> Response:
        if not isinstance(body, dict) or body.get("campaign_id") not in self.campaigns:
            return Response(400, {"message": "Invalid campaign_id"})
        recipients = body.get("recipients")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= 50:
            return Response(400, {"message": "between 1 and 50 recipients are allowed"})
        if any(not r.get("external_user_id") for r in recipients):
            return Response(400, {"message": "every recipient needs external_user_id"})
        dispatch_id = uuid.uuid4().hex
        with self.lock:
            self.dispatches.append({"dispatch_id": dispatch_id, **body})
        return Response(201, {"dispatch_id": dispatch_id, "message": "success"})
