"""The Twilio SMS destination against a fake Messages API."""

from __future__ import annotations

import base64
import time

import pytest

from fakes import FAST_RETRIES, Fault, make_batch, make_destination, outcomes_by_key
from fakes.twilio import FakeTwilio
from syncs import http
from syncs.destinations.sms import TwilioSmsDestination

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token-test"
SENDER = "+15005550006"


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> FakeTwilio:
    monkeypatch.setenv("KAIROS_TEST_TWILIO_SID", SID)
    monkeypatch.setenv("KAIROS_TEST_TWILIO_TOKEN", TOKEN)
    with FakeTwilio(SID, TOKEN, senders={SENDER}, opted_out={"+447700900999"}) as fake:
        yield fake


def destination(twilio: FakeTwilio, **over: object) -> TwilioSmsDestination:
    options = {"base_url": twilio.url, "account_sid_env": "KAIROS_TEST_TWILIO_SID",
               "auth_token_env": "KAIROS_TEST_TWILIO_TOKEN", "from_number": SENDER, "default_country": "GB",
               "rate_limit_per_second": 200, **FAST_RETRIES, **over}
    dest = make_destination(TwilioSmsDestination, options)
    dest.open("run")
    return dest


def test_one_form_encoded_request_per_message(twilio: FakeTwilio) -> None:
    dest = destination(twilio)
    batch = make_batch({"phone": ["07700 900123", "+1 (650) 555-1212"], "body": ["Hi Ann", "Hi Bob"]}, ["m1", "m2"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {r["destination_message_id"] for r in rows.values()} == {m["sid"] for m in twilio.messages}
    request = twilio.requests[0]
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert sorted(m["to"] for m in twilio.messages) == ["+16505551212", "+447700900123"]  # E.164
    assert {r.form()["From"] for r in twilio.requests} == {SENDER}


def test_recipient_errors_reject_rows(twilio: FakeTwilio) -> None:
    dest = destination(twilio)
    batch = make_batch({"phone": ["+447700900999", "+44", "07700 900124", "+447700900125"],
                        "body": ["a", "b", "", "d"]}, ["opted_out", "invalid", "empty", "ok"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert rows["opted_out"]["status"] == "rejected" and rows["opted_out"]["status_code"] == 400
    assert rows["opted_out"]["reason"].startswith("twilio 21610")
    assert rows["invalid"]["status"] == "rejected" and "E.164" in rows["invalid"]["reason"]  # caught locally
    assert rows["empty"]["status"] == "rejected"
    assert rows["ok"]["status"] == "sent"
    assert len(twilio.requests) == 2  # nothing sent for the rows rejected locally


def test_invalid_to_number_from_twilio_is_rejected(twilio: FakeTwilio) -> None:
    dest = destination(twilio)
    # well-formed E.164, so it passes our check; Twilio answers 21211 (its magic test number)
    rows = outcomes_by_key(dest.send_batch(make_batch({"phone": ["+1 500 555 0001"], "body": ["x"]})))
    assert rows["k0"]["status"] == "rejected" and rows["k0"]["status_code"] == 400
    assert rows["k0"]["reason"].startswith("twilio 21211: The 'To' number +15005550001 is not a valid phone number")
    assert len(twilio.requests) == 1  # not retried


def test_sends_in_parallel(twilio: FakeTwilio) -> None:
    twilio.inject(*[Fault.slow(0.3) for _ in range(4)])
    dest = destination(twilio, concurrency=4, timeout_seconds=2)
    started = time.monotonic()
    dest.send_batch(make_batch({"phone": [f"+44770090010{i}" for i in range(4)], "body": ["x"] * 4}))
    assert time.monotonic() - started < 0.9  # 4 slow requests at once (sequential would take 1.2 s)
    assert len(twilio.messages) == 4


def test_429_and_drop_are_retried(twilio: FakeTwilio) -> None:
    twilio.inject(Fault.status(429, retry_after="1", body={"code": 20429, "message": "Too Many Requests",
                                                           "status": 429}), Fault.drop())
    dest = destination(twilio, concurrency=1)
    started = time.monotonic()
    rows = outcomes_by_key(dest.send_batch(make_batch({"phone": ["+447700900123"], "body": ["x"]})))
    assert rows["k0"]["status"] == "sent"
    assert len(twilio.requests) == 3 and time.monotonic() - started >= 0.95


def test_retries_exhausted_marks_the_row_failed(twilio: FakeTwilio) -> None:
    twilio.inject(*[Fault.status(500, match="Messages")] * 4)
    dest = destination(twilio, concurrency=1, max_attempts=4)
    rows = outcomes_by_key(dest.send_batch(make_batch({"phone": ["+447700900123", "+447700900124"],
                                                        "body": ["x", "y"]})))
    assert rows["k0"]["status"] == "failed" and rows["k0"]["status_code"] == 500
    assert rows["k1"]["status"] == "sent"  # the next message went through


def test_bad_credentials_fail_the_batch_and_the_run(twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_TWILIO_TOKEN", "wrong")
    dest = destination(twilio, concurrency=1)
    batch = make_batch({"phone": ["+447700900123", "+447700900124"], "body": ["x", "y"]})
    with pytest.raises(http.FatalDestinationError, match="HTTP 401"):
        dest.send_batch(batch)
    assert len(twilio.requests) == 1  # stopped at the first 401, not once per message
    with pytest.raises(http.FatalDestinationError):
        dest.send_batch(batch)  # and the next batch fails before sending
    assert len(twilio.requests) == 1


def test_unknown_sender_is_fatal_after_recording_what_went_out(twilio: FakeTwilio) -> None:
    dest = destination(twilio, concurrency=1)
    dest.send_batch(make_batch({"phone": ["+447700900123"], "body": ["x"]}))
    twilio.senders.clear()  # the number was released mid-run
    with pytest.raises(http.FatalDestinationError, match="21606"):
        dest.send_batch(make_batch({"phone": ["+447700900124"], "body": ["y"]}, seq=2))


def test_options() -> None:
    base = {"account_sid_env": "A", "auth_token_env": "B"}
    with pytest.raises(ValueError, match="exactly one of from_number and messaging_service_sid"):
        TwilioSmsDestination.validate_options(base)
    with pytest.raises(ValueError, match="destination.default_country"):
        TwilioSmsDestination.validate_options({**base, "from_number": SENDER, "default_country": "Narnia"})
    with pytest.raises(ValueError, match="destination.auth_token: secrets never go"):
        TwilioSmsDestination.validate_options({**base, "from_number": SENDER, "auth_token": "x"})
    opts = TwilioSmsDestination.validate_options({**base, "messaging_service_sid": "MG" + "a" * 32})
    assert opts["rate_limit_per_second"] == 10.0 and opts["to_field"] == "phone"
