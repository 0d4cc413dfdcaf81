"""The Braze destination against a fake Braze REST API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fakes import FAST_RETRIES, Fault, make_batch, make_destination, outcomes_by_key
from fakes.braze import FakeBraze
from syncs import http
from syncs.destinations.esp import BrazeDestination

KEY = "braze-rest-key-test"
GROUP = "6c1f8e1c-0000-4000-8000-000000000001"
CAMPAIGN = "0f4e5b4c-0000-4000-8000-00000000000c"


@pytest.fixture
def braze(monkeypatch: pytest.MonkeyPatch) -> FakeBraze:
    monkeypatch.setenv("KAIROS_TEST_BRAZE_KEY", KEY)
    with FakeBraze(KEY, campaigns={CAMPAIGN}) as fake:
        yield fake


def destination(braze: FakeBraze, mode: str = "insert", **over: object) -> BrazeDestination:
    options = {"rest_endpoint": braze.url, "api_key_env": "KAIROS_TEST_BRAZE_KEY",
               "external_id_field": "customer_key", **FAST_RETRIES, **over}
    dest = make_destination(BrazeDestination, options, mode=mode)
    dest.open("run")
    return dest


def profiles(n: int, bad: set[int] = frozenset()) -> dict[str, list[object]]:  # type: ignore[assignment]
    return {
        "customer_key": [f"c{i}" for i in range(n)],
        "email": ["not-an-email" if i in bad else f"p{i}@example.com" for i in range(n)],
        "first_name": [f"Name{i}" for i in range(n)],
        "clv": [Decimal("12.50") + i for i in range(n)],
    }


def test_upserts_profiles_and_adds_to_the_subscription_group(braze: FakeBraze) -> None:
    dest = destination(braze, subscription_group_id=GROUP)
    outcome = dest.send_batch(make_batch(profiles(80)))
    assert outcome.row_outcomes is None
    tracks = braze.requests_to("/users/track")
    # Braze's 75-object limit; chunks go out in parallel, so in any order
    assert sorted(len(r.json()["attributes"]) for r in tracks) == [5, 75]
    first = next(a for r in tracks for a in r.json()["attributes"] if a["external_id"] == "c0")
    assert first == {"external_id": "c0", "email": "p0@example.com", "first_name": "Name0", "clv": 12.5,
                     "subscription_groups": [{"subscription_group_id": GROUP, "subscription_state": "subscribed"}]}
    assert tracks[0].headers["authorization"] == f"Bearer {KEY}"
    assert len(braze.profiles) == 80 and braze.subscriptions[(GROUP, "c79")] == "subscribed"


def test_indexed_errors_reject_their_rows(braze: FakeBraze) -> None:
    dest = destination(braze)
    batch = make_batch(profiles(4, bad={2}) | {"customer_key": ["c0", "c1", "c2", None]},
                       ["r0", "r1", "r2", "r3"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert rows["r2"]["status"] == "rejected" and "not a valid email" in rows["r2"]["reason"]
    assert rows["r2"]["status_code"] == 201
    assert rows["r3"]["status"] == "rejected" and "no customer_key" in rows["r3"]["reason"]
    assert set(rows) == {"r2", "r3"}
    assert set(braze.profiles) == {"c0", "c1"}


def test_a_request_where_every_row_is_bad_still_maps_rows(braze: FakeBraze) -> None:
    dest = destination(braze)
    rows = outcomes_by_key(dest.send_batch(make_batch(profiles(2, bad={0, 1}))))
    assert {r["status"] for r in rows.values()} == {"rejected"}
    assert {r["status_code"] for r in rows.values()} == {400}


def test_mirror_removals_unsubscribe(braze: FakeBraze) -> None:
    dest = destination(braze, mode="mirror", subscription_group_id=GROUP)
    dest.send_batch(make_batch(profiles(60)))
    dest.send_batch(make_batch({"customer_key": [f"c{i}" for i in range(55)]}, operation="delete"))
    calls = braze.requests_to("/v2/subscription/status/set")
    assert sorted(len(c.json()["subscription_groups"][0]["external_ids"]) for c in calls) == [5, 50]
    assert calls[0].json()["subscription_groups"][0]["subscription_state"] == "unsubscribed"
    assert braze.subscriptions[(GROUP, "c0")] == "unsubscribed"
    assert braze.subscriptions[(GROUP, "c59")] == "subscribed"


def test_removals_need_a_group(braze: FakeBraze) -> None:
    dest = destination(braze, mode="mirror")
    with pytest.raises(http.FatalDestinationError, match="subscription_group_id"):
        dest.send_batch(make_batch({"customer_key": ["c1"]}, operation="delete"))


def test_trigger_campaign_records_the_dispatch_id(braze: FakeBraze) -> None:
    dest = destination(braze, action="trigger_campaign", campaign_id=CAMPAIGN)
    batch = make_batch({"customer_key": ["c1", "c2"], "cart_id": ["cart_1", "cart_2"], "step": [1, 2]})
    rows = outcomes_by_key(dest.send_batch(batch))
    (dispatch,) = braze.dispatches
    assert dispatch["recipients"][1] == {"external_user_id": "c2", "trigger_properties": {"cart_id": "cart_2",
                                                                                          "step": 2}}
    assert {r["destination_message_id"] for r in rows.values()} == {dispatch["dispatch_id"]}
    assert {r["status"] for r in rows.values()} == {"sent"}


def test_429_with_retry_after_then_success(braze: FakeBraze) -> None:
    braze.inject(Fault.status(429, retry_after="1", headers={"X-RateLimit-Limit": "50000"}))
    dest = destination(braze)
    dest.send_batch(make_batch(profiles(3)))
    first, second = braze.requests
    assert second.at - first.at >= 0.95 and len(braze.profiles) == 3


def test_wrong_key_is_fatal(braze: FakeBraze, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_BRAZE_KEY", "wrong")
    dest = destination(braze)
    with pytest.raises(http.FatalDestinationError, match="HTTP 401"):
        dest.send_batch(make_batch(profiles(2)))
    assert len(braze.requests) == 1


def test_unknown_campaign_fails_the_batch(braze: FakeBraze) -> None:
    dest = destination(braze, action="trigger_campaign", campaign_id="nope")
    with pytest.raises(http.HttpError, match="Invalid campaign_id"):
        dest.send_batch(make_batch({"customer_key": ["c1"]}))


def test_options() -> None:
    with pytest.raises(ValueError, match="destination.api_key_env"):
        BrazeDestination.validate_options({})
    with pytest.raises(ValueError, match="destination.campaign_id: required"):
        BrazeDestination.validate_options({"api_key_env": "K", "action": "trigger_campaign"})
    with pytest.raises(ValueError, match="destination.action"):
        BrazeDestination.validate_options({"api_key_env": "K", "action": "send_fax"})
    opts = BrazeDestination.validate_options({"api_key_env": "K"})
    assert opts["rest_endpoint"] == "https://rest.iad-01.braze.com" and opts["action"] == "track_users"
