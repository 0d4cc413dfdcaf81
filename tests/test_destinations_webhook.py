"""The webhook destination against a local receiver, and once through the engine."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from fakes import FAST_RETRIES, Fault, make_batch, make_destination, outcomes_by_key
from fakes.webhook import FakeWebhook
from syncs import http
from syncs.destinations.webhook import WebhookDestination, verify

SECRET = b"whsec_test_only"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> FakeWebhook:
    monkeypatch.setenv("KAIROS_TEST_WEBHOOK_SECRET", SECRET.decode())
    with FakeWebhook(SECRET, reject=lambda row: "unknown customer" if row.get("email") == "ghost@example.com"
                     else None) as fake:
        yield fake


def destination(receiver: FakeWebhook, **over: object) -> WebhookDestination:
    options = {"url": f"{receiver.url}/hook", "secret_env": "KAIROS_TEST_WEBHOOK_SECRET", **FAST_RETRIES, **over}
    dest = make_destination(WebhookDestination, options)
    dest.open("20261123T101500Z-abc123")
    return dest


def test_posts_a_signed_json_batch(receiver: FakeWebhook) -> None:
    dest = destination(receiver)
    batch = make_batch({"email": ["a@example.com", "b@example.com"], "cart_value": [Decimal("19.90"), None],
                        "due_at": [dt.datetime(2026, 11, 23, 9, 30), None]}, ["int_1", "int_2"])
    outcome = dest.send_batch(batch)
    dest.close()
    assert outcome.row_outcomes is None
    (request,) = receiver.requests
    assert request.headers["idempotency-key"] == batch.batch_id
    assert request.headers["content-type"] == "application/json"
    assert verify(SECRET, request.body, request.headers["x-kairos-signature"])
    # independent check of the documented scheme: hex HMAC-SHA256 of the raw body
    assert request.headers["x-kairos-signature"] == "sha256=" + hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
    document = json.loads(request.body)
    assert document["batch_id"] == batch.batch_id and document["sync"] == "test_sync"
    assert document["record_keys"] == ["int_1", "int_2"]
    assert document["rows"][0] == {"email": "a@example.com", "cart_value": "19.90", "due_at": "2026-11-23T09:30:00"}
    sent_at = dt.datetime.strptime(document["sent_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert int(sent_at.timestamp()) == int(request.headers["x-kairos-timestamp"])
    assert not dest.batch_delivered(batch.batch_id)  # receivers dedupe on Idempotency-Key


def test_rows_the_receiver_refuses_are_rejected(receiver: FakeWebhook) -> None:
    dest = destination(receiver)
    outcome = dest.send_batch(make_batch({"email": ["a@example.com", "ghost@example.com"]}, ["k1", "k2"]))
    rows = outcomes_by_key(outcome)
    assert list(rows) == ["k2"]
    assert rows["k2"]["status"] == "rejected" and rows["k2"]["reason"] == "unknown customer"
    assert rows["k2"]["status_code"] == 200


def test_retry_after_is_honoured_and_the_retry_is_identical(receiver: FakeWebhook) -> None:
    receiver.inject(Fault.status(429, retry_after="1"))
    dest = destination(receiver)
    dest.send_batch(make_batch({"email": ["a@example.com"]}))
    first, second = receiver.requests
    assert second.at - first.at >= 0.95
    assert first.body == second.body  # same bytes, same signature, same key
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.headers["x-kairos-signature"] == second.headers["x-kairos-signature"]


def test_500_drop_and_timeout_are_retried_and_deduplicated(receiver: FakeWebhook) -> None:
    receiver.inject(Fault.status(500), Fault.drop(), Fault.slow(0.8))
    dest = destination(receiver, timeout_seconds=0.3)
    batch = make_batch({"email": ["a@example.com"]})
    dest.send_batch(batch)
    time.sleep(0.6)  # let the slow request finish on the receiver
    assert len(receiver.requests) == 4
    assert list(receiver.delivered) == [batch.batch_id]  # applied once
    assert receiver.duplicates == 1  # the timed-out request did land: the key absorbed the resend


def test_bad_signature_fails_the_batch_without_retrying(receiver: FakeWebhook,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_WEBHOOK_SECRET", "not-the-secret")
    dest = destination(receiver)
    with pytest.raises(http.HttpError, match="HTTP 401"):
        dest.send_batch(make_batch({"email": ["a@example.com"]}))
    assert len(receiver.requests) == 1


def test_persistent_failure_gives_up(receiver: FakeWebhook) -> None:
    receiver.inject(*[Fault.status(503)] * 10)
    dest = destination(receiver, max_attempts=3)
    with pytest.raises(http.RetriesExhausted):
        dest.send_batch(make_batch({"email": ["a@example.com"]}))
    assert len(receiver.requests) == 3


def test_options(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="destination.url"):
        WebhookDestination.validate_options({"secret_env": "X"})
    with pytest.raises(ValueError, match="destination.secret: secrets never go"):
        WebhookDestination.validate_options({"url": "https://h.example.com", "secret": "abc"})
    with pytest.raises(ValueError, match="destination.headers"):
        WebhookDestination.validate_options({"url": "https://h.example.com", "secret_env": "X",
                                             "headers": {"Authorization": "Bearer abc"}})
    monkeypatch.delenv("KAIROS_TEST_UNSET", raising=False)
    dest = make_destination(WebhookDestination, {"url": "https://h.example.com", "secret_env": "KAIROS_TEST_UNSET"})
    with pytest.raises(http.MissingSecret, match="KAIROS_TEST_UNSET"):
        dest.open("run")


# -- through the engine ------------------------------------------------------------------------

def test_engine_delivers_to_a_webhook(receiver: FakeWebhook, duck_settings, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """run_sync -> webhook: batches, rejections and the ledger agree (registers the type for the test)."""
    import yaml

    from kairos.warehouse import Warehouse
    from syncs.config import load_sync_configs
    from syncs.destinations import base as dest_base
    from syncs.engine import SyncFailed, run_sync
    from syncs.ledger import read_records

    monkeypatch.setitem(dest_base.DESTINATION_TYPES, "webhook", "syncs.destinations.webhook:WebhookDestination")
    with Warehouse(duck_settings) as wh:
        wh.ensure_schema("syncs")
        wh.execute("create table syncs.sync_webhook__test (intent_id varchar, email varchar)")
        wh.executemany("insert into syncs.sync_webhook__test values (?, ?)",
                       [(f"i{i}", "ghost@example.com" if i == 3 else f"p{i}@example.com") for i in range(5)])
    definition = {"model": "sync_webhook__test", "mode": "insert", "primary_key": "intent_id", "batch_size": 2,
                  "channel": "webhook",
                  "destination": {"type": "webhook", "url": f"{receiver.url}/hook",
                                  "secret_env": "KAIROS_TEST_WEBHOOK_SECRET", **FAST_RETRIES}}
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "hook_test.yml").write_text(yaml.safe_dump(definition))
    config = load_sync_configs(tmp_path / "defs")["hook_test"]
    receiver.inject(Fault.status(500))
    with pytest.raises(SyncFailed) as info:  # one rejected row fails the run, by the engine's rules
        run_sync(config, settings=duck_settings)
    assert (info.value.result.sent, info.value.result.rejected) == (4, 1)
    assert len(receiver.delivered) == 3  # 5 rows in batches of 2
    with Warehouse(duck_settings) as wh:
        records = {r["record_key"]: r for r in read_records(wh, "hook_test")}
    assert records["i3"]["status"] == "rejected"
    assert sum(r["status"] == "sent" for r in records.values()) == 4
