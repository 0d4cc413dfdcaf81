"""Meta custom audiences and Google Customer Match against fake Graph / Google Ads APIs."""

from __future__ import annotations

import hashlib
import json

import pytest

from fakes import FAST_RETRIES, Fault, make_batch, make_destination, outcomes_by_key
from fakes.google_ads import FakeGoogleAds
from fakes.meta import FakeMetaGraph
from syncs import http
from syncs.destinations.ad_audiences import GoogleCustomerMatchDestination, MetaCustomAudienceDestination

AUDIENCE = "23850000000000001"
META_TOKEN = "EAAB-test-token"
APP_SECRET = "meta-app-secret"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- Meta ------------------------------------------------------------------------------------

@pytest.fixture
def meta(monkeypatch: pytest.MonkeyPatch) -> FakeMetaGraph:
    monkeypatch.setenv("KAIROS_TEST_META_TOKEN", META_TOKEN)
    monkeypatch.setenv("KAIROS_TEST_META_SECRET", APP_SECRET)
    with FakeMetaGraph(AUDIENCE, META_TOKEN, app_secret=APP_SECRET) as fake:
        yield fake


def meta_destination(meta: FakeMetaGraph, mode: str = "insert", **over: object) -> MetaCustomAudienceDestination:
    options = {"base_url": meta.url, "audience_id": AUDIENCE, "access_token_env": "KAIROS_TEST_META_TOKEN",
               "app_secret_env": "KAIROS_TEST_META_SECRET", "default_country": "US", **FAST_RETRIES, **over}
    dest = make_destination(MetaCustomAudienceDestination, options, mode=mode)
    dest.open("run")
    return dest


def test_meta_uploads_hashed_multi_key_rows(meta: FakeMetaGraph) -> None:
    dest = meta_destination(meta)
    batch = make_batch({
        "email": [" John_Smith@gmail.com ", None], "phone": ["(650)555-1212", "+44 20 7946 0958"],
        "first_name": ["Mary", "Valéry"], "date_of_birth": ["2/16/1997", None], "country": ["United States", "GB"],
        "external_id": ["cust_1", "cust_2"],
    })
    outcome = dest.send_batch(batch)
    assert outcome.row_outcomes is None
    (request,) = meta.requests
    assert request.method == "POST" and request.path == f"/v25.0/{AUDIENCE}/users"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form()
    payload, session = json.loads(form["payload"]), json.loads(form["session"])
    assert payload["schema"] == ["EMAIL", "PHONE", "FN", "COUNTRY", "DOBY", "DOBM", "DOBD", "EXTERN_ID"]
    assert payload["data"][0] == [sha("john_smith@gmail.com"), sha("16505551212"), sha("mary"), sha("us"),
                                  sha("1997"), sha("02"), sha("16"), "cust_1"]
    assert payload["data"][1][0] == "" and payload["data"][1][1] == sha("442079460958")
    assert session["batch_seq"] == 1 and session["last_batch_flag"] is True and session["estimated_num_total"] == 2
    assert len(meta.members) == 2


def test_meta_splits_sessions_and_removes_on_delete(meta: FakeMetaGraph) -> None:
    dest = meta_destination(meta, mode="mirror", max_rows_per_request=2)
    emails = [f"p{i}@example.com" for i in range(5)]
    dest.send_batch(make_batch({"email": emails}))
    sessions = [json.loads(r.form()["session"]) for r in meta.requests]
    assert [s["batch_seq"] for s in sessions] == [1, 2, 3]
    assert [s["last_batch_flag"] for s in sessions] == [False, False, True]
    assert len({s["session_id"] for s in sessions}) == 1
    assert len(meta.members) == 5
    dest.send_batch(make_batch({"email": emails[:2]}, operation="delete", seq=2))
    assert meta.requests[-1].method == "DELETE" and len(meta.members) == 3


def test_meta_rejects_rows_without_identifiers_and_invalid_entries(meta: FakeMetaGraph) -> None:
    meta.refuse.add(sha("blocked@example.com"))
    dest = meta_destination(meta)
    batch = make_batch({"email": ["a@example.com", "not-an-email", "blocked@example.com"],
                        "phone": [None, None, None]}, ["ok", "nothing", "refused"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert rows["nothing"]["status"] == "rejected" and "no usable identifier" in rows["nothing"]["reason"]
    assert rows["nothing"]["status_code"] is None  # refused before any request
    assert rows["refused"]["status"] == "rejected" and rows["refused"]["status_code"] == 200
    assert rows["refused"]["reason"].startswith("meta invalid entry: Data does not match")
    assert "ok" not in rows
    assert len(json.loads(meta.requests[0].form()["payload"])["data"]) == 2  # the empty row never left


def test_meta_throttling_code_is_retried(meta: FakeMetaGraph) -> None:
    meta.inject(Fault.status(400, retry_after="1", body={"error": {
        "message": "There have been too many calls from this ad-account.", "type": "OAuthException",
        "code": 80003, "error_subcode": 2446079, "is_transient": True}}))
    dest = meta_destination(meta)
    dest.send_batch(make_batch({"email": ["a@example.com"]}))
    first, second = meta.requests
    assert second.at - first.at >= 0.95 and len(meta.members) == 1


def test_meta_bad_token_is_fatal_and_not_retried(meta: FakeMetaGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_META_TOKEN", "expired")
    dest = meta_destination(meta)
    with pytest.raises(http.FatalDestinationError, match="code 190"):
        dest.send_batch(make_batch({"email": ["a@example.com"]}))
    assert len(meta.requests) == 1


def test_meta_refuses_non_identifier_columns(meta: FakeMetaGraph) -> None:
    dest = meta_destination(meta)
    with pytest.raises(ValueError, match=r"columns \['cart_value'\] are not identifiers"):
        dest.send_batch(make_batch({"email": ["a@example.com"], "cart_value": [10]}))


# -- Google ----------------------------------------------------------------------------------

@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> FakeGoogleAds:
    monkeypatch.setenv("KAIROS_TEST_GADS_TOKEN", "ya29.google-token")
    monkeypatch.setenv("KAIROS_TEST_GADS_DEV", "dev-token-123")
    with FakeGoogleAds("1234567890", "987654321", "ya29.google-token", "dev-token-123") as fake:
        yield fake


def google_destination(google: FakeGoogleAds, mode: str = "insert", **over: object) -> GoogleCustomerMatchDestination:
    options = {"base_url": google.url, "customer_id": "123-456-7890", "user_list_id": "987654321",
               "access_token_env": "KAIROS_TEST_GADS_TOKEN", "developer_token_env": "KAIROS_TEST_GADS_DEV",
               "login_customer_id": "111-222-3333", "default_country": "US",
               "consent": {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}, **FAST_RETRIES, **over}
    dest = make_destination(GoogleCustomerMatchDestination, options, mode=mode)
    dest.open("run")
    return dest


def test_google_job_create_add_run(google: FakeGoogleAds) -> None:
    dest = google_destination(google)
    batch = make_batch({"email": ["Jane.Doe+ads@gmail.com", None], "phone": ["(800)555-0100", None],
                        "first_name": ["Jane", "Mrs. Ann"], "last_name": ["Doe", "Lee Jr."],
                        "country": ["us", "GB"], "zip": ["94016", "WC2H 8LG"]})
    outcome = dest.send_batch(batch)
    assert outcome.row_outcomes is None
    create, add, run = google.requests
    assert create.path == "/v21/customers/1234567890/offlineUserDataJobs:create"
    assert create.headers["developer-token"] == "dev-token-123" and create.headers["login-customer-id"] == "1112223333"
    job = create.json()["job"]
    assert job["type"] == "CUSTOMER_MATCH_USER_LIST"
    assert job["customerMatchUserListMetadata"] == {"userList": "customers/1234567890/userLists/987654321",
                                                    "consent": {"adUserData": "GRANTED",
                                                                "adPersonalization": "GRANTED"}}
    assert add.path.endswith("/offlineUserDataJobs/1:addOperations") and add.json()["enablePartialFailure"] is True
    first, second = (op["create"]["userIdentifiers"] for op in add.json()["operations"])
    assert first == [{"hashedEmail": sha("janedoe@gmail.com")}, {"hashedPhoneNumber": sha("+18005550100")},
                     {"addressInfo": {"hashedFirstName": sha("jane"), "hashedLastName": sha("doe"),
                                      "countryCode": "US", "postalCode": "94016"}}]
    assert second == [{"addressInfo": {"hashedFirstName": sha("ann"), "hashedLastName": sha("lee"),
                                       "countryCode": "GB", "postalCode": "WC2H 8LG"}}]
    assert run.path.endswith(":run") and outcome.outputs == ["customers/1234567890/offlineUserDataJobs/1"]
    assert google.jobs["customers/1234567890/offlineUserDataJobs/1"]["status"] == "SUCCESS"


def test_google_partial_failures_reject_rows(google: FakeGoogleAds) -> None:
    google.refuse.add(sha("b@example.com"))
    dest = google_destination(google)
    batch = make_batch({"email": ["a@example.com", "b@example.com", "nope", None]}, ["a", "b", "c", "d"])
    rows = outcomes_by_key(dest.send_batch(batch))
    assert {k: r["status"] for k, r in rows.items()} == {"b": "rejected", "c": "rejected", "d": "rejected"}
    assert rows["b"]["status_code"] == 400 and "INVALID_SHA256_FORMAT" in rows["b"]["reason"]
    (add,) = google.requests_to(":addOperations")
    assert len(add.json()["operations"]) == 2  # rows without identifiers never left
    assert len(google.members) == 1 and len(google.requests_to(":run")) == 1


def test_google_removals_and_crash_recovery(google: FakeGoogleAds) -> None:
    dest = google_destination(google, mode="mirror")
    batch = make_batch({"email": ["a@example.com", "b@example.com"]})
    assert not dest.batch_delivered(batch.batch_id)  # never sent
    dest.send_batch(batch)
    assert dest.batch_delivered(batch.batch_id)  # the job with this batch's external id ran
    assert len(google.members) == 2
    removal = make_batch({"email": ["a@example.com"]}, operation="delete", seq=2)
    dest.send_batch(removal)
    (op,) = google.requests_to(":addOperations")[-1].json()["operations"]
    assert "remove" in op and len(google.members) == 1


def test_google_pending_job_does_not_count_as_delivered(google: FakeGoogleAds) -> None:
    dest = google_destination(google)
    batch = make_batch({"email": ["a@example.com"]})
    google.inject(*[Fault.status(500, match=":addOperations")] * 10)
    with pytest.raises(http.RetriesExhausted):
        dest.send_batch(batch)
    assert not dest.batch_delivered(batch.batch_id)  # created but never run: resend


def test_google_rate_limit_then_success(google: FakeGoogleAds) -> None:
    google.inject(Fault.status(429, retry_after="1", body={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}},
                               match=":create"), Fault.drop(match=":run"))
    dest = google_destination(google)
    dest.send_batch(make_batch({"email": ["a@example.com"]}))
    creates = google.requests_to(":create")
    assert len(creates) == 2 and creates[1].at - creates[0].at >= 0.95
    assert len(google.requests_to(":run")) == 2


def test_google_bad_developer_token_is_fatal(google: FakeGoogleAds, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_TEST_GADS_DEV", "wrong")
    dest = google_destination(google)
    with pytest.raises(http.FatalDestinationError, match="developer token"):
        dest.send_batch(make_batch({"email": ["a@example.com"]}))
    assert len(google.requests) == 1


def test_options() -> None:
    with pytest.raises(ValueError, match="destination.audience_id"):
        MetaCustomAudienceDestination.validate_options({"access_token_env": "T"})
    with pytest.raises(ValueError, match="destination.access_token: secrets never go"):
        MetaCustomAudienceDestination.validate_options({"audience_id": AUDIENCE, "access_token": "EAAB"})
    with pytest.raises(ValueError, match="destination.consent"):
        GoogleCustomerMatchDestination.validate_options({
            "customer_id": "1", "user_list_id": "2", "access_token_env": "A", "developer_token_env": "B",
            "consent": {"ad_user_data": "YES"}})
    opts = GoogleCustomerMatchDestination.validate_options({
        "customer_id": "123-456-7890", "user_list_id": "2", "access_token_env": "A", "developer_token_env": "B"})
    assert opts["customer_id"] == "1234567890" and opts["api_version"] == "v21"
