"""Mobile/web push destination modelled on Firebase Cloud Messaging's HTTP v1 API.

One message per request (HTTP v1 has no multicast endpoint)::

    POST /v1/projects/{project_id}/messages:send
    Authorization: Bearer <OAuth 2.0 access token>
    Content-Type: application/json

    {"message": {"token": "<registration token>",
                 "notification": {"title": "Still thinking about it?", "body": "Your cart is waiting"},
                 "data": {"intent_id": "i-42", "cart_id": "c-7"}}}

``200`` answers ``{"name": "projects/<id>/messages/<message id>"}``, kept as
the row's destination message id. Outcomes per message:

* ``UNREGISTERED`` (404: the app was uninstalled or the token expired),
  ``INVALID_ARGUMENT`` (400: malformed token or payload) and
  ``SENDER_ID_MISMATCH`` (403: the token belongs to another project): the row
  is **rejected**; the reason carries FCM's error code.
* ``UNAUTHENTICATED`` (401), ``PERMISSION_DENIED`` (403 without an FCM error
  code), ``THIRD_PARTY_AUTH_ERROR`` (401, APNs/web-push credentials), an
  unknown project (404 without ``UNREGISTERED``): configuration errors, fatal
  for the run.
* ``QUOTA_EXCEEDED`` (429), ``UNAVAILABLE`` (503), ``INTERNAL`` (500):
  retried with back-off, honouring ``Retry-After`` (``syncs.http``); still
  failing after the retry budget: the row is **failed**.

The access token is read from the environment variable named by
``access_token_env`` (minting one from a service account needs google-auth,
which this project does not ship: a scheduler or sidecar refreshes the
variable, e.g. from ``gcloud auth print-access-token``). ``data`` values must
be strings in FCM, so every data column is sent as text.

Definition options::

    destination:
      type: fcm
      project_id: my-shop-app
      access_token_env: KAIROS_FCM_ACCESS_TOKEN
      token_field: push_token          # column with the registration token (default token)
      title_field: title               # default title
      body_field: body                 # default body
      data_fields: [intent_id, cart_id]   # default: every other column
      validate_only: false             # FCM's dry run
      concurrency: 8
      rate_limit_per_second: 100
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from syncs import http
from syncs.destinations.base import Batch, BatchOutcome, Destination

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
REJECT_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})
_OPTIONS = frozenset({"base_url", "project_id", "access_token_env", "token_field", "title_field", "body_field",
                      "data_fields", "validate_only"})
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class FcmPushDestination(Destination):
    """One FCM HTTP v1 message per row (see the module docstring)."""

    type_name: ClassVar[str] = "fcm"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, _OPTIONS)
        out: dict[str, Any] = {
            "base_url": http.check_base_url(options, "base_url", DEFAULT_BASE_URL),
            "project_id": http.check_str(options, "project_id", required=True, pattern=r"^[a-z][a-z0-9\-]{4,61}[a-z0-9]$",
                                         hint="the Firebase project id, e.g. my-shop-app"),
            "access_token_env": http.check_env_name(options, "access_token_env"),
            "token_field": http.check_str(options, "token_field", default="token", pattern=_COLUMN, hint="a column"),
            "title_field": http.check_str(options, "title_field", default="title", pattern=_COLUMN, hint="a column"),
            "body_field": http.check_str(options, "body_field", default="body", pattern=_COLUMN, hint="a column"),
            "validate_only": http.check_bool(options, "validate_only", False),
            "data_fields": None,
        }
        data_fields = options.get("data_fields")
        if data_fields is not None:
            if not isinstance(data_fields, list) or not all(isinstance(f, str) for f in data_fields):
                raise ValueError("destination.data_fields: must be a list of column names")
            out["data_fields"] = list(data_fields)
        out.update(http.validate_http_options(options, defaults={"concurrency": 8}))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None
        self._fatal: BaseException | None = None

    def describe(self) -> str:
        return f"fcm project {self.options['project_id']}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        token = http.env_secret(self.options, "access_token_env")
        self._fatal = None
        self.client = http.HttpClient.from_options(
            self.options["base_url"], self.options,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json; UTF-8"},
            name=f"fcm:{self.sync.name}",
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        if self._fatal is not None:
            raise self._fatal
        o = self.options
        columns = batch.rows.column_names
        if o["token_field"] not in columns:
            raise ValueError(f"fcm: the batch has no {o['token_field']!r} column (destination.token_field)")
        special = {o["token_field"], o["title_field"], o["body_field"]}
        data_fields = o["data_fields"] if o["data_fields"] is not None else [c for c in columns if c not in special]
        missing = [c for c in data_fields if c not in columns]
        if missing:
            raise ValueError(f"fcm: destination.data_fields names columns the batch lacks: {missing}")
        keys = batch.keys.to_pylist()
        rows = batch.rows.to_pylist()
        outcomes = http.RowOutcomes()
        work: list[tuple[str, dict[str, Any]]] = []
        for key, row in zip(keys, rows):
            token = row.get(o["token_field"])
            if not token:
                outcomes.add(key, "rejected", reason="no registration token")
                continue
            message: dict[str, Any] = {"token": str(token)}
            notification = {k: str(row[f]) for k, f in (("title", o["title_field"]), ("body", o["body_field"]))
                            if row.get(f) not in (None, "")}
            if notification:
                message["notification"] = notification
            data = {f: _text(row[f]) for f in data_fields if row.get(f) is not None}
            if data:
                message["data"] = data
            work.append((key, message))

        fatal = http.run_parallel(work, lambda item: self._send_one(*item, outcomes), int(o["concurrency"]))
        if fatal is not None:
            self._fatal = fatal
            if outcomes.count("sent") == 0:
                raise fatal
            done = outcomes.keys()
            for key, _message in work:
                if key not in done:
                    outcomes.add(key, "failed", reason=f"not sent: {fatal}")
        return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())

    def _send_one(self, key: str, message: dict[str, Any], outcomes: http.RowOutcomes) -> None:
        body: dict[str, Any] = {"message": message}
        if self.options["validate_only"]:
            body["validate_only"] = True
        assert self.client is not None
        try:
            response = self.client.request("POST", f"/v1/projects/{self.options['project_id']}/messages:send",
                                           json=body)
        except http.HttpError as exc:
            outcomes.add(key, "failed", status_code=exc.status, reason=str(exc))
            return
        payload = http.json_or_none(response)
        payload = payload if isinstance(payload, Mapping) else {}
        if 200 <= response.status_code < 300:
            outcomes.add(key, "sent", status_code=response.status_code, message_id=payload.get("name"))
            return
        error = payload.get("error") if isinstance(payload.get("error"), Mapping) else {}
        fcm_code = _fcm_error_code(error)
        status = error.get("status")
        message_text = error.get("message") or response.text[:300]
        if fcm_code in REJECT_CODES or (status == "INVALID_ARGUMENT" and response.status_code == 400):
            outcomes.add(key, "rejected", status_code=response.status_code,
                         reason=f"{fcm_code or status}: {message_text}")
            return
        raise http.FatalDestinationError(
            f"fcm: HTTP {response.status_code} {fcm_code or status}: {message_text}",
            status=response.status_code, body=response.text)

    def batch_delivered(self, batch_id: str) -> bool:
        return False  # FCM has no idempotency key: resend (at-least-once)


def _fcm_error_code(error: Mapping[str, Any]) -> str | None:
    """``errorCode`` of the ``google.firebase.fcm.v1.FcmError`` detail, if any."""
    for detail in error.get("details") or []:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.firebase.fcm.v1.FcmError"):
            return detail.get("errorCode")
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    jsonable = http.jsonable(value)
    if isinstance(jsonable, (dict, list)):
        import json

        return json.dumps(jsonable, separators=(",", ":"), ensure_ascii=False)
    return str(jsonable)
