"""Twilio's Messages resource: POST /2010-04-01/Accounts/{AccountSid}/Messages.json."""

from __future__ import annotations

import re
import uuid
from typing import Any

from . import FakeServer, Recorded, Response, basic_auth

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _error(status: int, code: int, message: str) -> Response:
    return Response(status, {"code": code, "message": message,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})


class FakeTwilio(FakeServer):
    """Basic auth (AccountSid:AuthToken), form-encoded body, Twilio's error codes.

    ``invalid`` numbers answer 21211 (by default +15005550001, Twilio's own magic
    test number for that error); ``opted_out`` answer 21610; ``landlines`` answer 21614; ``senders``
    are the 'From' numbers the account owns (21606 otherwise). ``messages``
    lists the accepted Message resources.
    """

    def __init__(self, account_sid: str, auth_token: str, *, senders: set[str] | None = None,
                 opted_out: set[str] | None = None, landlines: set[str] | None = None,
                 invalid: set[str] | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.senders = senders or {"+15005550006"}
        self.opted_out = opted_out or set()
        self.landlines = landlines or set()
        self.invalid = invalid if invalid is not None else {"+15005550001"}
        self.messages: list[dict[str, Any]] = []

    def handle(self, request: Recorded) -> Response:
        if basic_auth(request) != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return _error(404, 20404, "The requested resource was not found")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _error(400, 21604, "'To' phone number is required to send a Message")  # what JSON bodies get
        form = request.form()
        to, sender, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")
        if sender and sender not in self.senders:
            return _error(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound "
                                      "phone number or short code for your account.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not _E164.match(to) or to in self.invalid:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to in self.landlines:
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        sid = "SM" + uuid.uuid4().hex
        message = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": sender, "body": body,
                   "messaging_service_sid": form.get("MessagingServiceSid"), "status": "queued",
                   "status_callback": form.get("StatusCallback"), "api_version": "2010-04-01",
                   "direction": "outbound-api", "error_code": None, "error_message": None,
                   "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"}
        with self.lock:
            self.messages.append(message)
        return Response(201, message)
