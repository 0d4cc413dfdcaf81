"""ESP destination modelled on Braze's REST API: profiles, list membership, campaign sends.

Braze was picked because its bulk endpoints answer *per row*: ``/users/track``
returns non-fatal errors with the index of the offending object, which maps
straight onto Kairos's row outcomes.

What each batch becomes (``action``):

* ``track_users`` (default): profile upserts, ``POST /users/track`` with up to
  75 ``attributes`` objects per request (Braze's limit)::

      {"attributes": [{"external_id": "c-1", "email": "a@example.com", "first_name": "Ann",
                       "subscription_groups": [{"subscription_group_id": "...",
                                                "subscription_state": "subscribed"}]}]}

  With ``subscription_group_id`` set, operation ``insert`` / ``upsert`` adds
  the user to that subscription group (the list) in the same call, and
  ``delete`` (mirror-mode removals) unsubscribes them with
  ``POST /v2/subscription/status/set`` (up to 50 ``external_ids`` a request).
  Answer: ``{"message": "success", "errors": [{"type": "...", "input_array":
  "attributes", "index": 2}]}``; each indexed error rejects that row.
* ``trigger_campaign``: message intents, ``POST /campaigns/trigger/send`` of
  an API-triggered campaign with up to 50 recipients per request; every other
  column goes into that recipient's ``trigger_properties``. The answer's
  ``dispatch_id`` is recorded as each row's destination message id.

Authentication: ``Authorization: Bearer <REST API key>`` from the environment
variable named by ``api_key_env``. Braze has no idempotency keys:
``/users/track`` is idempotent by nature (an upsert), campaign triggers are
at-least-once after a crash (``batch_delivered`` answers False).

Definition options::

    destination:
      type: braze
      rest_endpoint: https://rest.fra-01.braze.eu   # your instance (default: rest.iad-01)
      api_key_env: KAIROS_BRAZE_API_KEY
      action: track_users                 # or trigger_campaign
      external_id_field: customer_key     # column holding the Braze external_id (default external_id)
      subscription_group_id: 6c1f...      # optional: the list to add to / remove from
      campaign_id: 0f4e...                # required for trigger_campaign
      update_existing_only: false         # track_users: never create profiles
      # shared HTTP options (syncs.http): rate_limit_per_second, max_attempts, timeout_seconds, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from syncs import http
from syncs.destinations.base import Batch, BatchOutcome, Destination

DEFAULT_ENDPOINT = "https://rest.iad-01.braze.com"
TRACK_LIMIT = 75  # attributes objects per /users/track request
SUBSCRIPTION_LIMIT = 50  # external_ids per /v2/subscription/status/set request
TRIGGER_LIMIT = 50  # recipients per /campaigns/trigger/send request
ACTIONS = ("track_users", "trigger_campaign")
_OPTIONS = frozenset({"rest_endpoint", "api_key_env", "action", "external_id_field", "subscription_group_id",
                      "campaign_id", "update_existing_only"})


class BrazeDestination(Destination):
    """Profiles, subscription-group membership and campaign triggers in Braze."""

    type_name: ClassVar[str] = "braze"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, _OPTIONS)
        out: dict[str, Any] = {
            "rest_endpoint": http.check_base_url(options, "rest_endpoint", DEFAULT_ENDPOINT),
            "api_key_env": http.check_env_name(options, "api_key_env"),
            "action": options.get("action", "track_users"),
            "external_id_field": http.check_str(options, "external_id_field", default="external_id",
                                                pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", hint="a column name"),
            "subscription_group_id": http.check_str(options, "subscription_group_id"),
            "campaign_id": http.check_str(options, "campaign_id"),
            "update_existing_only": http.check_bool(options, "update_existing_only", False),
        }
        if out["action"] not in ACTIONS:
            raise ValueError(f"destination.action: {out['action']!r} is not one of {', '.join(ACTIONS)}")
        if out["action"] == "trigger_campaign" and not out["campaign_id"]:
            raise ValueError("destination.campaign_id: required when action is trigger_campaign")
        if out["action"] == "track_users" and out["campaign_id"]:
            raise ValueError("destination.campaign_id: only applies to action trigger_campaign")
        out.update(http.validate_http_options(options))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None

    def describe(self) -> str:
        what = f"campaign {self.options['campaign_id']}" if self.options["action"] == "trigger_campaign" \
            else "users/track" + (f" + subscription group {self.options['subscription_group_id']}"
                                  if self.options["subscription_group_id"] else "")
        return f"braze {what} at {self.options['rest_endpoint']}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        key = http.env_secret(self.options, "api_key_env")
        self.client = http.HttpClient.from_options(
            self.options["rest_endpoint"], self.options,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            name=f"braze:{self.sync.name}",
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # -- sending ---------------------------------------------------------------------------
    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        id_field = self.options["external_id_field"]
        if id_field not in batch.rows.column_names:
            raise ValueError(f"braze: the batch has no {id_field!r} column (destination.external_id_field); "
                             f"columns: {', '.join(batch.rows.column_names)}")
        keys = batch.keys.to_pylist()
        rows = [http.jsonable(r, decimals_as_float=True) for r in batch.rows.to_pylist()]
        outcomes = http.RowOutcomes()
        usable: list[int] = []
        for i, row in enumerate(rows):
            if row.get(id_field) in (None, ""):
                outcomes.add(keys[i], "rejected", reason=f"no {id_field} (the Braze external_id)")
            else:
                usable.append(i)
        if batch.operation == "delete":
            self._unsubscribe(rows, usable, id_field)
        elif self.options["action"] == "trigger_campaign":
            self._trigger(rows, keys, usable, id_field, outcomes)
        else:
            self._track(rows, keys, usable, id_field, outcomes)
        return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())

    def _track(self, rows: list[dict[str, Any]], keys: list[str], usable: list[int], id_field: str,
               outcomes: http.RowOutcomes) -> None:
        group = self.options["subscription_group_id"]
        chunks = [usable[r.start:r.stop] for r in http.chunks(len(usable), TRACK_LIMIT)]

        def send(chunk: list[int]) -> None:
            attributes = []
            for i in chunk:
                row = dict(rows[i])
                attrs: dict[str, Any] = {"external_id": str(row.pop(id_field))}
                attrs.update(row)
                if self.options["update_existing_only"]:
                    attrs["_update_existing_only"] = True
                if group:
                    attrs["subscription_groups"] = [{"subscription_group_id": group,
                                                     "subscription_state": "subscribed"}]
                attributes.append(attrs)
            assert self.client is not None
            response = self.client.request("POST", "/users/track", json={"attributes": attributes},
                                           cost=len(chunk))
            body = http.json_or_none(response) or {}
            indexed = [e for e in body.get("errors") or [] if isinstance(e, Mapping)
                       and e.get("input_array") == "attributes" and isinstance(e.get("index"), int)]
            if not 200 <= response.status_code < 300 and not indexed:
                _raise(response, "users/track")
            for error in indexed:
                if 0 <= error["index"] < len(chunk):
                    outcomes.add(keys[chunk[error["index"]]], "rejected", status_code=response.status_code,
                                 reason=str(error.get("type") or body.get("message") or "rejected by Braze"))

        self._run(chunks, send)

    def _unsubscribe(self, rows: list[dict[str, Any]], usable: list[int], id_field: str) -> None:
        group = self.options["subscription_group_id"]
        if not group:
            raise http.FatalDestinationError(
                "braze: removing rows (mirror mode) needs destination.subscription_group_id: "
                "Kairos unsubscribes them from that group and never deletes Braze profiles")
        chunks = [usable[r.start:r.stop] for r in http.chunks(len(usable), SUBSCRIPTION_LIMIT)]

        def send(chunk: list[int]) -> None:
            assert self.client is not None
            body = {"subscription_groups": [{
                "subscription_group_id": group, "subscription_state": "unsubscribed",
                "external_ids": [str(rows[i][id_field]) for i in chunk],
            }]}
            response = self.client.request("POST", "/v2/subscription/status/set", json=body, cost=len(chunk))
            if not 200 <= response.status_code < 300:
                _raise(response, "subscription/status/set")

        self._run(chunks, send)

    def _trigger(self, rows: list[dict[str, Any]], keys: list[str], usable: list[int], id_field: str,
                 outcomes: http.RowOutcomes) -> None:
        chunks = [usable[r.start:r.stop] for r in http.chunks(len(usable), TRIGGER_LIMIT)]

        def send(chunk: list[int]) -> None:
            recipients = []
            for i in chunk:
                props = dict(rows[i])
                external_id = str(props.pop(id_field))
                recipients.append({"external_user_id": external_id, "trigger_properties": props})
            body = {"campaign_id": self.options["campaign_id"], "broadcast": False, "recipients": recipients}
            assert self.client is not None
            response = self.client.request("POST", "/campaigns/trigger/send", json=body, cost=len(chunk))
            if not 200 <= response.status_code < 300:
                _raise(response, "campaigns/trigger/send")
            dispatch_id = (http.json_or_none(response) or {}).get("dispatch_id")
            for i in chunk:
                outcomes.add(keys[i], "sent", status_code=response.status_code, message_id=dispatch_id)

        self._run(chunks, send)

    def _run(self, chunks: list[list[int]], send: Any) -> None:
        # requests of one batch go out in parallel; any failure fails the whole
        # batch, which the engine resends (profile upserts are idempotent)
        fatal = http.run_parallel(chunks, send, int(self.options["concurrency"]))
        if fatal is not None:
            raise fatal

    def batch_delivered(self, batch_id: str) -> bool:
        return False  # no idempotency keys at Braze: resend (upserts are idempotent)


def _raise(response: Any, what: str) -> None:
    """A non-2xx answer that names no row: the request as a whole is wrong."""
    body = http.json_or_none(response) or {}
    message = body.get("message") if isinstance(body, Mapping) else None
    error = http.FatalDestinationError if response.status_code in (401, 403) else http.HttpError
    raise error(f"braze {what}: HTTP {response.status_code}: {message or response.text[:300]}",
                status=response.status_code, body=response.text)
