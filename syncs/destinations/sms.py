"""SMS destination modelled on Twilio's Programmable Messaging API.

One message is one request (that is the API)::

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json
    Authorization: Basic base64(AccountSid:AuthToken)
    Content-Type: application/x-www-form-urlencoded

    To=%2B447700900123&From=%2B15005550006&Body=Your+cart+is+waiting

``201`` answers the Message resource; its ``sid`` (``SM...``) becomes the
row's destination message id. Messages of a batch go out in parallel on a
small thread pool, through the destination's rate limiter.

Outcomes per message:

* ``4xx`` with a Twilio error code about the recipient or the content (21211
  invalid 'To' number, 21610 recipient unsubscribed with STOP, 21614 not a
  mobile number, 21408 region not enabled, 21617 body too long, ...): the row
  is **rejected** with the HTTP status and ``twilio <code>: <message>``.
* ``401`` / ``403`` (20003 authentication) or a sender problem (21212 invalid
  'From', 21606 'From' not SMS-capable, 21603 no 'From'): a configuration
  error, fatal for the run; messages already sent in the batch are recorded.
* ``429`` (20429) and ``5xx``, time-outs, dropped connections: retried with
  back-off (``syncs.http``); still failing after the retry budget: the row is
  **failed** and travels again next run.
* A 'To' value that cannot be put in E.164 (with ``default_country`` for
  national numbers) is rejected before any request.

Twilio has no idempotency key for message creation: a retry after a lost
response, or a resend after a crash, can deliver a message twice
(at-least-once; ``batch_delivered`` answers False).

Definition options::

    destination:
      type: twilio_sms
      account_sid_env: KAIROS_TWILIO_ACCOUNT_SID
      auth_token_env: KAIROS_TWILIO_AUTH_TOKEN
      api_key_sid_env: KAIROS_TWILIO_API_KEY_SID   # optional: authenticate with an API key (secret in auth_token_env)
      from_number: "+15005550006"                   # or messaging_service_sid: MG...
      to_field: phone                               # column with the recipient (default phone)
      body_field: body                              # column with the text (default body)
      default_country: GB                           # for national numbers in to_field
      status_callback: https://hooks.example.com/twilio/status   # optional
      concurrency: 4                                # parallel requests (default 4)
      rate_limit_per_second: 10                     # messages per second (default 10)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from syncs import hashing, http
from syncs.destinations.base import Batch, BatchOutcome, Destination

DEFAULT_BASE_URL = "https://api.twilio.com"
#: Twilio error codes that say the *sender or account* is wrong (every message would fail)
FATAL_CODES = frozenset({20003, 20005, 20008, 21212, 21603, 21606, 21659, 21660, 21705})
_OPTIONS = frozenset({"base_url", "account_sid_env", "auth_token_env", "api_key_sid_env", "from_number",
                      "messaging_service_sid", "to_field", "body_field", "default_country", "status_callback"})
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class TwilioSmsDestination(Destination):
    """One Twilio Message per row (see the module docstring)."""

    type_name: ClassVar[str] = "twilio_sms"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert"})

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        http.check_options(cls.type_name, options, _OPTIONS)
        out: dict[str, Any] = {
            "base_url": http.check_base_url(options, "base_url", DEFAULT_BASE_URL),
            "account_sid_env": http.check_env_name(options, "account_sid_env"),
            "auth_token_env": http.check_env_name(options, "auth_token_env"),
            "api_key_sid_env": http.check_env_name(options, "api_key_sid_env", required=False),
            "from_number": http.check_str(options, "from_number", pattern=r"^(\+[1-9]\d{6,14}|[A-Za-z0-9 ]{1,11})$",
                                          hint="an E.164 number such as +15005550006, or an alphanumeric sender ID"),
            "messaging_service_sid": http.check_str(options, "messaging_service_sid", pattern=r"^MG[0-9a-fA-F]{32}$",
                                                    hint="MG followed by 32 hex digits"),
            "to_field": http.check_str(options, "to_field", default="phone", pattern=_COLUMN, hint="a column name"),
            "body_field": http.check_str(options, "body_field", default="body", pattern=_COLUMN, hint="a column name"),
            "default_country": None,
            "status_callback": None,
        }
        if bool(out["from_number"]) == bool(out["messaging_service_sid"]):
            raise ValueError("destination.from_number: set exactly one of from_number and messaging_service_sid")
        if options.get("default_country") is not None:
            code = hashing.country_code(options["default_country"])
            if code is None or hashing.calling_code(code) is None:
                raise ValueError(f"destination.default_country: {options['default_country']!r} is not a country "
                                 "code Kairos knows (ISO alpha-2, e.g. GB)")
            out["default_country"] = code
        if options.get("status_callback") is not None:
            out["status_callback"] = http.check_base_url(options, "status_callback")
        out.update(http.validate_http_options(options, defaults={"rate_limit_per_second": 10.0}))
        return out

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.options = self.validate_options(sync.destination.options)
        self.client: http.HttpClient | None = None
        self._path = ""
        self._fatal: BaseException | None = None

    def describe(self) -> str:
        sender = self.options["from_number"] or self.options["messaging_service_sid"]
        return f"twilio sms from {sender}"

    def open(self, run_id: str) -> None:
        super().open(run_id)
        account_sid = http.env_secret(self.options, "account_sid_env")
        token = http.env_secret(self.options, "auth_token_env")
        user = http.env_secret(self.options, "api_key_sid_env") if self.options["api_key_sid_env"] else account_sid
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._fatal = None
        self.client = http.HttpClient.from_options(self.options["base_url"], self.options, auth=(user, token),
                                                   name=f"twilio:{self.sync.name}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.client is None:
            self.open(self.run_id or "adhoc")
        if self._fatal is not None:  # an earlier batch showed the configuration is wrong
            raise self._fatal
        to_field, body_field = self.options["to_field"], self.options["body_field"]
        missing = [c for c in (to_field, body_field) if c not in batch.rows.column_names]
        if missing:
            raise ValueError(f"twilio_sms: the batch has no column(s) {missing} (destination.to_field / body_field)")
        keys = batch.keys.to_pylist()
        numbers = batch.rows.column(to_field).to_pylist()
        bodies = batch.rows.column(body_field).to_pylist()
        outcomes = http.RowOutcomes()
        work: list[tuple[str, str, str]] = []
        for key, number, body in zip(keys, numbers, bodies):
            to = hashing.e164(number, self.options["default_country"])
            if to is None:
                outcomes.add(key, "rejected", reason=f"not a phone number that can be written in E.164: {number!r}")
            elif body is None or not str(body).strip():
                outcomes.add(key, "rejected", reason="empty message body")
            else:
                work.append((key, to, str(body)))

        fatal = http.run_parallel(work, lambda item: self._send_one(*item, outcomes),
                                  int(self.options["concurrency"]))
        if fatal is not None:
            self._fatal = fatal
            if outcomes.count("sent") == 0:
                raise fatal  # nothing went out: fail the batch and stop the run
            # some messages did go out: record them, leave the rest for the next run
            done = outcomes.keys()
            for key, _to, _body in work:
                if key not in done:
                    outcomes.add(key, "failed", reason=f"not sent: {fatal}")
        return BatchOutcome(outputs=[self.describe()], row_outcomes=outcomes.table())

    def _send_one(self, key: str, to: str, body: str, outcomes: http.RowOutcomes) -> None:
        form = {"To": to, "Body": body}
        if self.options["from_number"]:
            form["From"] = self.options["from_number"]
        else:
            form["MessagingServiceSid"] = self.options["messaging_service_sid"]
        if self.options["status_callback"]:
            form["StatusCallback"] = self.options["status_callback"]
        assert self.client is not None
        try:
            response = self.client.request("POST", self._path, data=form)
        except http.HttpError as exc:  # retries exhausted or a transport error: try again next run
            outcomes.add(key, "failed", status_code=exc.status, reason=str(exc))
            return
        payload = http.json_or_none(response)
        payload = payload if isinstance(payload, Mapping) else {}
        if 200 <= response.status_code < 300:
            outcomes.add(key, "sent", status_code=response.status_code, message_id=payload.get("sid"))
            return
        code = payload.get("code")
        message = payload.get("message") or response.text[:300]
        if response.status_code in (401, 403, 404) or code in FATAL_CODES:
            raise http.FatalDestinationError(f"twilio: HTTP {response.status_code}, error {code}: {message}",
                                             status=response.status_code, body=response.text)
        if 400 <= response.status_code < 500:
            outcomes.add(key, "rejected", status_code=response.status_code, reason=f"twilio {code}: {message}")
        else:
            outcomes.add(key, "failed", status_code=response.status_code, reason=f"twilio {code}: {message}")

    def batch_delivered(self, batch_id: str) -> bool:
        return False  # no idempotency at Twilio: resend (at-least-once)

