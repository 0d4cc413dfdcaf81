"""syncs.http against a local fake: retries, Retry-After, budgets, rate limits, secrets."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from fakes import FAST_RETRIES, Fault, FakeServer, Recorded, Response
from syncs import http


class Echo(FakeServer):
    """Answers 200 {"ok": true} to anything; 400 for paths under /bad."""

    def handle(self, request: Recorded) -> Response:
        if request.path.startswith("/bad"):
            return Response(400, {"error": "bad request"})
        return Response(200, {"ok": True, "path": request.path})


@pytest.fixture
def echo() -> Echo:
    with Echo() as fake:
        yield fake


def client(fake: FakeServer, **options: object) -> http.HttpClient:
    return http.HttpClient.from_options(fake.url, {**http.HTTP_OPTION_DEFAULTS, **FAST_RETRIES, **options})


def test_retries_429_500_drop_and_timeout_then_succeeds(echo: Echo) -> None:
    echo.inject(Fault.status(429), Fault.status(500), Fault.drop(), Fault.slow(1.0))
    c = client(echo, max_attempts=5)
    response = c.request("POST", "/x", json={"a": 1})
    assert response.status_code == 200
    assert len(echo.requests) == 5 and c.stats["retries"] == 4


def test_retry_after_seconds_is_honoured(echo: Echo) -> None:
    echo.inject(Fault.status(429, retry_after="1"))
    c = client(echo)
    started = time.monotonic()
    assert c.request("GET", "/x").status_code == 200
    gap = echo.requests[1].at - echo.requests[0].at
    assert gap >= 0.95, gap  # the server asked for 1 s and got it
    assert time.monotonic() - started < 3
    assert c.stats["waited_retry_after"] == 1.0


def test_retry_after_http_date_and_rate_limit_reset() -> None:
    now = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.timezone.utc)
    assert http.parse_retry_after({"Retry-After": "Mon, 23 Nov 2026 10:00:02 GMT"}, now=now) == 2.0
    assert http.parse_retry_after({"Retry-After": "Mon, 23 Nov 2026 09:00:00 GMT"}, now=now) == 0.0
    assert http.parse_retry_after({"Retry-After": "3"}) == 3.0
    assert http.parse_retry_after({"X-RateLimit-Reset": str(int(now.timestamp()) + 5)}, now=now) == 5.0
    assert http.parse_retry_after({"X-RateLimit-Retry-After": "0.5"}) == 0.5
    assert http.parse_retry_after({"Retry-After": "soon"}) is None
    assert http.parse_retry_after({}) is None


def test_retry_after_beyond_the_cap_fails_at_once(echo: Echo) -> None:
    echo.inject(Fault.status(503, retry_after="3600"))
    c = client(echo, max_retry_after_seconds=5)
    started = time.monotonic()
    with pytest.raises(http.RetriesExhausted, match="exceeds max_retry_after_seconds"):
        c.request("GET", "/x")
    assert time.monotonic() - started < 1 and len(echo.requests) == 1


def test_max_attempts_bounds_a_persistent_failure(echo: Echo) -> None:
    echo.inject(*[Fault.status(500)] * 10)
    c = client(echo, max_attempts=3)
    with pytest.raises(http.RetriesExhausted) as info:
        c.request("POST", "/x")
    assert info.value.status == 500
    assert len(echo.requests) == 3


def test_retry_budget_is_shared_across_requests(echo: Echo) -> None:
    echo.inject(*[Fault.status(502)] * 10)
    c = client(echo, max_attempts=5, retry_budget=2)
    with pytest.raises(http.RetriesExhausted, match="retry budget"):
        c.request("GET", "/x")
    assert len(echo.requests) == 3  # first try + the 2 retries of the budget
    with pytest.raises(http.RetriesExhausted, match="retry budget"):
        c.request("GET", "/y")
    assert len(echo.requests) == 4  # no retry left: one try only


def test_client_errors_are_returned_not_retried(echo: Echo) -> None:
    c = client(echo)
    response = c.request("POST", "/bad")
    assert response.status_code == 400 and len(echo.requests) == 1
    with pytest.raises(http.HttpError, match="HTTP 400"):
        http.raise_for_status(response)


def test_custom_retry_predicate(echo: Echo) -> None:
    echo.inject(Fault.status(400, body={"error": {"code": 17, "message": "User request limit reached"}}))
    c = client(echo)
    throttled = lambda r: r.status_code == 400 and "limit" in r.text  # noqa: E731
    assert c.request("GET", "/x", retry_if=throttled).status_code == 200
    assert len(echo.requests) == 2


def test_connections_are_reused(echo: Echo) -> None:
    c = client(echo)
    for _ in range(5):
        c.request("GET", "/x")
    assert len({r.client_port for r in echo.requests}) == 1


def test_many_threads_share_one_client(echo: Echo) -> None:
    c = client(echo, concurrency=4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                assert c.request("GET", "/x").status_code == 200
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(echo.requests) == 40
    assert len({r.client_port for r in echo.requests}) <= 4  # the pool bounds the connections


def test_token_bucket_limits_rate_across_threads() -> None:
    bucket = http.TokenBucket(rate=50, capacity=1)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert elapsed >= 19 / 50 * 0.9, elapsed  # 20 tokens, 1 banked, 50 per second


def test_token_bucket_with_a_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = http.TokenBucket(rate=10, capacity=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        assert bucket.acquire() == 0.0  # the burst
    assert bucket.acquire() == pytest.approx(0.1)
    assert bucket.acquire(cost=5) == pytest.approx(0.5)  # a 5-row request waits for 5 tokens


def test_rate_limited_client(echo: Echo) -> None:
    c = client(echo, rate_limit_per_second=20, rate_limit_burst=1)
    started = time.monotonic()
    for _ in range(5):
        c.request("GET", "/x")
    assert time.monotonic() - started >= 4 / 20 * 0.9


def test_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIROS_TEST_MISSING", raising=False)
    with pytest.raises(http.MissingSecret, match="KAIROS_TEST_MISSING .*destination.api_key_env"):
        http.env_secret({"api_key_env": "KAIROS_TEST_MISSING"}, "api_key_env")
    monkeypatch.setenv("KAIROS_TEST_PRESENT", "s3cret")
    assert http.env_secret({"api_key_env": "KAIROS_TEST_PRESENT"}, "api_key_env") == "s3cret"
    with pytest.raises(ValueError, match="NAME of an environment variable"):
        http.check_env_name({"api_key_env": "sk_live 123"}, "api_key_env")
    with pytest.raises(ValueError, match="secrets never go in sync definitions"):
        http.check_options("braze", {"api_key": "sk_live_123"}, {"api_key_env"})


def test_http_option_validation() -> None:
    assert http.validate_http_options({})["max_attempts"] == 5
    with pytest.raises(ValueError, match="destination.max_attempts"):
        http.validate_http_options({"max_attempts": 0})
    with pytest.raises(ValueError, match="destination.timeout_seconds"):
        http.validate_http_options({"timeout_seconds": "fast"})
    with pytest.raises(ValueError, match="destination.concurrency"):
        http.validate_http_options({"concurrency": 1000})


#: the registry lines these destinations need in syncs.destinations.base.DESTINATION_TYPES
API_TYPES = {
    "webhook": "syncs.destinations.webhook:WebhookDestination",
    "braze": "syncs.destinations.esp:BrazeDestination",
    "twilio_sms": "syncs.destinations.sms:TwilioSmsDestination",
    "fcm": "syncs.destinations.push:FcmPushDestination",
    "meta_custom_audience": "syncs.destinations.ad_audiences:MetaCustomAudienceDestination",
    "google_customer_match": "syncs.destinations.ad_audiences:GoogleCustomerMatchDestination",
}


def test_definitions_parse_for_every_api_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each type validates through syncs.config like a YAML definition would (registry patched here)."""
    from syncs.config import SyncConfigError, parse_sync_config
    from syncs.destinations import base as dest_base

    for name, target in API_TYPES.items():
        monkeypatch.setitem(dest_base.DESTINATION_TYPES, name, target)
    destinations = {
        "webhook": {"url": "https://hooks.example.com/k", "secret_env": "KAIROS_WEBHOOK_SECRET"},
        "braze": {"api_key_env": "KAIROS_BRAZE_API_KEY", "subscription_group_id": "g1"},
        "twilio_sms": {"account_sid_env": "A", "auth_token_env": "B", "from_number": "+15005550006"},
        "fcm": {"project_id": "my-shop-app", "access_token_env": "KAIROS_FCM_ACCESS_TOKEN"},
        "meta_custom_audience": {"audience_id": "23850000000000001", "access_token_env": "KAIROS_META_TOKEN"},
        "google_customer_match": {"customer_id": "123-456-7890", "user_list_id": 42,
                                  "access_token_env": "A", "developer_token_env": "B"},
    }
    for dtype, options in destinations.items():
        config = parse_sync_config({"model": "sync_x", "mode": "insert", "primary_key": "id",
                                    "destination": {"type": dtype, **options}}, name=f"t_{dtype}")
        assert config.destination.type == dtype
        assert config.destination.options["max_attempts"] == 5  # shared HTTP defaults filled in
        dest_base.destination_class(dtype)  # importable
    with pytest.raises(SyncConfigError, match="secrets never go in sync definitions"):
        parse_sync_config({"model": "sync_x", "mode": "insert", "primary_key": "id",
                           "destination": {"type": "braze", "api_key": "sk_live"}}, name="t_bad")
