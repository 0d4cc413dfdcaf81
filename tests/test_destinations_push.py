"""The FCM HTTP v1 push destination against a fake FCM."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from fakes import FAST_RETRIES, Fault, make_batch, make_destination, outcomes_by_key
from fakes.fcm import FakeFCM
from syncs import http
from syncs.destinations.push import FcmPushDestination

PROJECT = "kairos-shop-test"
TOKEN = "ya29.test-access-token"
GOOD = "fcm_token_good_0000000000000000"
GONE = "fcm_token_uninstalled_000000000"


@pytest.fixture
def fcm(monkeypatch: pytest.MonkeyPatch) -> FakeFCM:
    monkeypatch.setenv("KAIROS_TEST_FCM_TOKEN", TOKEN)
    with FakeFCM(PROJECT, TOKEN, unregistered={GONE}, foreign={"fcm_token_other_project_0000"}) as fake:
        yield fake


def destination(fcm: FakeFCM, **over: object) -> FcmPushDestination:
    options = {"base_url": fcm.url, "project_id": PROJECT, "access_token_env": "KAIROS_TEST_FCM_TOKEN",
               "token_field": "push_token", **FAST_RETRIES, **over}
    dest = make_destination(FcmPushDestination, options)
    dest.open("run")
    return dest


def test_sends_a_v1_message_per_row(fcm: FakeFCM) -> None:
    dest = destination(fcm)
    batch = make_batch({"push_token": [GOOD], "title": ["Still thinking about it?"], "body": ["Your cart"],
                        "cart_id": ["cart_7"], "cart_value": [Decimal("19.90")], "step": [2]}, ["i1"])
    rows = outcomes_by_key(dest.send_batch(batch))
    (request,) = fcm.requests
    assert request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"message": {
        "token": GOOD, "notification": {"title": "Still thinking about it?", "body": "Your cart"},
        "data": {"cart_id": "cart_7", "cart_value": "19.90", "step": "2"}}}  # data values are strings
    assert rows["i1"]["status"] == "sent" and rows["i1"]["destination_message_id"] == fcm.sent[0]["name"]


def test_unregistered_invalid_and_foreign_tokens_are_rejected(fcm: FakeFCM) -> None:
    dest = destination(fcm)
    batch = make_batch({"push_token": [GONE, "short", "fcm_token_other_project_0000", GOOD, None],
                        "title": ["t"] * 5, "body": ["b"] * 5}, ["gone", "bad", "foreign", "ok", "none"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert rows["gone"]["status"] == "rejected" and rows["gone"]["status_code"] == 404
    assert rows["gone"]["reason"].startswith("UNREGISTERED")
    assert rows["bad"]["status"] == "rejected" and rows["bad"]["reason"].startswith("INVALID_ARGUMENT")
    assert rows["foreign"]["status"] == "rejected" and rows["foreign"]["reason"].startswith("SENDER_ID_MISMATCH")
    assert rows["none"]["status"] == "rejected"
    assert rows["ok"]["status"] == "sent"
    assert len(fcm.requests) == 4  # rejections are not retried


def test_quota_exceeded_honours_retry_after(fcm: FakeFCM) -> None:
    fcm.inject(Fault.status(429, retry_after="1", body={"error": {
        "code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"}]}}))
    dest = destination(fcm, concurrency=1)
    started = time.monotonic()
    rows = outcomes_by_key(dest.send_batch(make_batch({"push_token": [GOOD], "title": ["t"], "body": ["b"]})))
    assert rows["k0"]["status"] == "sent" and time.monotonic() - started >= 0.95


def test_unavailable_and_timeouts_are_retried(fcm: FakeFCM) -> None:
    fcm.inject(Fault.status(503), Fault.slow(0.6), Fault.drop())
    dest = destination(fcm, concurrency=1, timeout_seconds=0.3, max_attempts=5)
    rows = outcomes_by_key(dest.send_batch(make_batch({"push_token": [GOOD], "title": ["t"], "body": ["b"]})))
    assert rows["k0"]["status"] == "sent" and len(fcm.requests) == 4


def test_expired_access_token_is_fatal(fcm: FakeFCM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_FCM_TOKEN", "expired")
    dest = destination(fcm, concurrency=1)
    with pytest.raises(http.FatalDestinationError, match="UNAUTHENTICATED"):
        dest.send_batch(make_batch({"push_token": [GOOD, GOOD], "title": ["t", "t"], "body": ["b", "b"]}))
    assert len(fcm.requests) == 1


def test_options() -> None:
    with pytest.raises(ValueError, match="destination.project_id"):
        FcmPushDestination.validate_options({"access_token_env": "T"})
    with pytest.raises(ValueError, match="destination.data_fields"):
        FcmPushDestination.validate_options({"access_token_env": "T", "project_id": PROJECT, "data_fields": "x"})
    assert FcmPushDestination.validate_options({"access_token_env": "T", "project_id": PROJECT})["concurrency"] == 8
