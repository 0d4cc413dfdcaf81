"""The one HTTP client every API destination uses.

What it does for a destination:

* **Connection reuse**: one ``requests.Session`` per client with an
  ``HTTPAdapter`` pool sized to the destination's concurrency (``pool_block``
  so threads wait for a connection instead of opening extra ones). The
  session keeps no cookies, so sharing it between the threads that call
  ``send_batch`` (or a destination's own worker pool) is safe.
* **Time-outs** on connect and read, always.
* **Retries** (tenacity) with exponential back-off and full jitter on 429,
  5xx (500, 502, 503, 504), time-outs and dropped connections, plus any
  response a destination marks retryable (an API that says "throttled" with
  a 400). ``Retry-After`` (seconds or an HTTP date) is honoured, as are
  ``X-RateLimit-Retry-After`` and ``X-RateLimit-Reset`` (epoch seconds) that
  some ESPs send instead. A server asking for a longer wait than
  ``max_retry_after_seconds`` is not waited for: the request fails.
* **A bounded retry budget**: at most ``max_attempts`` tries per request, and
  at most ``retry_budget`` retries per client (one run), so a dead API fails
  the run in seconds instead of retrying every row for minutes.
* **Rate limiting**: a thread-safe token bucket per client, in requests (or
  rows, when the caller passes ``cost``) per second.
* **Secrets from the environment only**: options name an environment
  variable (``api_key_env: KAIROS_ESP_API_KEY``); :func:`env_secret` reads it
  and fails clearly when it is not set. Definitions never hold secrets.

It does *not* interpret 4xx answers: a non-retryable response is returned to
the destination, which decides between "this row is rejected" (row outcome)
and "this request is wrong" (:func:`raise_for_status`, a batch failure).
Retried POSTs can be delivered twice when a response is lost after the
server acted: destinations send an idempotency key where the API has one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.utils
import http.cookiejar
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_any

log = logging.getLogger("kairos.syncs.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "kairos-sync/0.1 (+reverse-etl)"

#: options every API destination accepts, with their defaults (see :func:`validate_http_options`)
HTTP_OPTION_DEFAULTS: dict[str, Any] = {
    "timeout_seconds": 30.0,  # read time-out per request
    "connect_timeout_seconds": 5.0,
    "max_attempts": 5,  # tries per request, the first included
    "backoff_base_seconds": 0.5,  # exponential back-off: base * 2**n, full jitter
    "backoff_max_seconds": 30.0,
    "max_retry_after_seconds": 120.0,  # longest Retry-After we agree to wait
    "retry_budget": 100,  # retries per run across all requests of the destination
    "rate_limit_per_second": None,  # requests (or rows) per second; None = unlimited
    "rate_limit_burst": None,  # bucket size; default: one second's worth
    "concurrency": 4,  # parallel requests (connection pool size, worker threads)
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: option names that would put a secret into a definition file
_SECRET_OPTION_NAMES = frozenset({"api_key", "token", "access_token", "auth_token", "secret", "password",
                                  "bearer_token", "developer_token", "api_secret"})


# -- errors -------------------------------------------------------------------------------

class HttpError(RuntimeError):
    """A request failed for good (after retries, or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RetryableError(HttpError):
    """A transient failure: 429, 5xx, time-out, dropped connection (retried)."""

    def __init__(self, message: str, *, status: int | None = None, body: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class RetriesExhausted(HttpError):
    """Transient failures went on past ``max_attempts``, the retry budget or the Retry-After cap."""


class MissingSecret(ValueError):
    """An environment variable named in the options is not set."""


# -- options and secrets -------------------------------------------------------------------

def validate_http_options(options: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check the shared HTTP options in ``options``; returns them with defaults filled.

    Raises ``ValueError("destination.<option>: ...")``. ``defaults``
    overrides :data:`HTTP_OPTION_DEFAULTS` for one destination type.
    """
    merged = {**HTTP_OPTION_DEFAULTS, **(defaults or {})}
    out: dict[str, Any] = {}
    for name, default in merged.items():
        value = options.get(name, default)
        if value is None and default is None:
            out[name] = None
            continue
        if name in ("max_attempts", "retry_budget", "concurrency", "rate_limit_burst"):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "retry_budget" else 1):
                raise ValueError(f"destination.{name}: {value!r} must be a positive integer")
            if name == "concurrency" and value > 64:
                raise ValueError(f"destination.{name}: {value!r} is more than 64")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
                raise ValueError(f"destination.{name}: {value!r} must be a positive number")
            value = float(value)
        out[name] = value
    return out


def check_env_name(options: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    """Validate that option ``key`` names an environment variable (not a secret itself)."""
    value = options.get(key)
    if value is None:
        if required:
            raise ValueError(f"destination.{key}: missing (the name of the environment variable holding the secret)")
        return None
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(
            f"destination.{key}: must be the NAME of an environment variable (e.g. KAIROS_ESP_API_KEY), "
            "never the secret itself"
        )
    return value


def reject_inline_secrets(options: Mapping[str, Any]) -> None:
    """A clear error for ``api_key: sk_live_...`` and friends in a definition."""
    for key in options:
        if str(key).lower() in _SECRET_OPTION_NAMES:
            raise ValueError(
                f"destination.{key}: secrets never go in sync definitions; put it in an environment "
                f"variable and name that variable in destination.{key}_env"
            )


def env_secret(options: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    """The secret in the environment variable named by option ``key``.

    Raises :class:`MissingSecret` naming the variable and the option when it
    is unset or empty.
    """
    name = options.get(key)
    if name is None:
        if required:
            raise MissingSecret(f"destination.{key} is not set: name the environment variable that holds the secret")
        return None
    value = os.environ.get(str(name))
    if not value:
        if required:
            raise MissingSecret(
                f"environment variable {name} (named by destination.{key}) is not set or empty; "
                "export it before running the sync"
            )
        return None
    return value


def check_base_url(options: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """An http(s) URL option without a trailing slash."""
    value = options.get(key, default)
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"destination.{key}: {value!r} must be an http:// or https:// URL")
    return value.rstrip("/")


# -- rate limiting ---------------------------------------------------------------------------

class TokenBucket:
    """Thread-safe token bucket: ``rate`` tokens per second, at most ``capacity`` banked.

    :meth:`acquire` blocks (sleeping outside the lock) until the tokens are
    there. A cost larger than the capacity is allowed and simply waits longer.
    """

    def __init__(self, rate: float, capacity: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens, waiting as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                need = min(cost, self.capacity)  # a big cost drains a full bucket, then the debt below
                if self._tokens >= need:
                    self._tokens -= cost  # may go negative: later callers wait for the debt
                    return waited
                delay = (need - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay


class RetryBudget:
    """A thread-safe count of retries left for one client (one run)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._left = total
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    @property
    def used(self) -> int:
        with self._lock:
            return self.total - self._left


# -- Retry-After -------------------------------------------------------------------------------

def parse_retry_after(headers: Mapping[str, str], *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP date) or the
    ``X-RateLimit-Retry-After`` / ``X-RateLimit-Reset`` (epoch) headers; None if absent."""
    value = headers.get("Retry-After") or headers.get("X-RateLimit-Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        now = now or dt.datetime.now(dt.timezone.utc)
        return max(0.0, (when - now).total_seconds())
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            epoch = float(reset)
        except ValueError:
            return None
        if epoch > 1e9:  # an epoch timestamp, not a count of seconds
            now_ts = (now or dt.datetime.now(dt.timezone.utc)).timestamp()
            return max(0.0, epoch - now_ts)
        return max(0.0, epoch)
    return None


# -- the client ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpPolicy:
    """Time-outs and retry behaviour (built from validated options by :meth:`from_options`)."""

    timeout: float = 30.0
    connect_timeout: float = 5.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    retry_budget: int = 100

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "HttpPolicy":
        o = {**HTTP_OPTION_DEFAULTS, **options}
        return cls(timeout=float(o["timeout_seconds"]), connect_timeout=float(o["connect_timeout_seconds"]),
                   max_attempts=int(o["max_attempts"]), backoff_base=float(o["backoff_base_seconds"]),
                   backoff_max=float(o["backoff_max_seconds"]), max_retry_after=float(o["max_retry_after_seconds"]),
                   retry_budget=int(o["retry_budget"]))


class HttpClient:
    """A pooled, retrying, rate-limited client for one destination instance.

    ``request`` returns the response for every status it does not retry
    (2xx and most 4xx); it raises :class:`RetriesExhausted` when transient
    failures outlast the policy, and :class:`HttpError` for a
    non-retryable transport error.
    """

    def __init__(self, base_url: str, *, policy: HttpPolicy | None = None, pool_size: int = 4,
                 rate_limiter: TokenBucket | None = None, headers: Mapping[str, str] | None = None,
                 auth: Any = None, name: str = "http") -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HttpPolicy()
        self.rate_limiter = rate_limiter
        self.budget = RetryBudget(self.policy.retry_budget)
        self.name = name
        self.session = requests.Session()
        # no cookies: nothing shared and mutable between threads but the connection pool
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0, pool_block=True)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
        if auth is not None:
            self.session.auth = auth
        #: counters for tests and log lines (guarded by a lock: several threads update them)
        self.stats = {"requests": 0, "retries": 0, "waited_retry_after": 0.0}
        self._stats_lock = threading.Lock()

    @classmethod
    def from_options(cls, base_url: str, options: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
                     auth: Any = None, name: str = "http") -> "HttpClient":
        """A client configured by a destination's validated options."""
        o = {**HTTP_OPTION_DEFAULTS, **options}
        limiter = None
        if o.get("rate_limit_per_second"):
            limiter = TokenBucket(float(o["rate_limit_per_second"]), o.get("rate_limit_burst"))
        return cls(base_url, policy=HttpPolicy.from_options(o), pool_size=int(o["concurrency"]),
                   rate_limiter=limiter, headers=headers, auth=auth, name=name)

    def url(self, path: str) -> str:
        return path if re.match(r"^https?://", path) else f"{self.base_url}/{path.lstrip('/')}"

    def close(self) -> None:
        self.session.close()

    def _count(self, key: str, amount: float = 1) -> None:
        with self._stats_lock:
            self.stats[key] += amount

    # -- one request with retries ------------------------------------------------------
    def request(self, method: str, path: str, *, cost: float = 1.0,
                retry_if: Callable[[requests.Response], bool] | None = None, **kwargs: Any) -> requests.Response:
        """Send a request with the retry policy; ``kwargs`` go to ``requests`` (json, data, headers...).

        ``cost`` is what the rate limiter charges (rows, for per-row limits).
        ``retry_if`` marks extra responses as transient (an API's "throttled" 400).
        """
        url = self.url(path)
        kwargs.setdefault("timeout", (self.policy.connect_timeout, self.policy.timeout))

        def attempt() -> requests.Response:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(cost)
            self._count("requests")
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                # time-outs and dropped connections: transient by nature
                raise RetryableError(f"{method} {url}: {type(exc).__name__}: {_short(exc)}") from exc
            except requests.RequestException as exc:
                raise HttpError(f"{method} {url}: {type(exc).__name__}: {_short(exc)}") from exc
            if response.status_code in RETRY_STATUSES or (retry_if is not None and retry_if(response)):
                raise RetryableError(
                    f"{method} {url}: HTTP {response.status_code}: {_short(response.text)}",
                    status=response.status_code, body=response.text,
                    retry_after=parse_retry_after(response.headers),
                )
            return response

        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop_any(stop_after_attempt(self.policy.max_attempts), self._stop_when_out_of_budget),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=False,
            retry_error_callback=self._give_up,
        )
        return retrying(attempt)

    # -- tenacity hooks ---------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after  # the server said when; no jitter on top
        # exponential back-off with full jitter: uniform(0, min(max, base * 2**n))
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)

    def _stop_when_out_of_budget(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None \
                and exc.retry_after > self.policy.max_retry_after:
            state.kairos_reason = f"Retry-After {exc.retry_after:.0f}s exceeds max_retry_after_seconds"  # type: ignore[attr-defined]
            return True
        if not self.budget.take():
            state.kairos_reason = f"retry budget of {self.budget.total} retries used up"  # type: ignore[attr-defined]
            return True
        return False

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self._count("retries")
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            self._count("waited_retry_after", exc.retry_after)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: attempt %d failed (%s); retrying in %.2fs", self.name, state.attempt_number, exc, wait)

    def _give_up(self, state: RetryCallState) -> requests.Response:
        exc = state.outcome.exception() if state.outcome else None
        reason = getattr(state, "kairos_reason", f"{state.attempt_number} attempt(s)")
        if isinstance(exc, RetryableError):
            raise RetriesExhausted(f"{exc} (gave up: {reason})", status=exc.status, body=exc.body) from exc
        if exc is not None:
            raise exc
        raise HttpError("request failed")  # pragma: no cover - tenacity always has an outcome


def raise_for_status(response: requests.Response, what: str = "") -> None:
    """Raise :class:`HttpError` for a non-2xx response (a failure of the whole request)."""
    if 200 <= response.status_code < 300:
        return
    label = f"{what}: " if what else ""
    raise HttpError(f"{label}{response.request.method if response.request else ''} {response.url}: "
                    f"HTTP {response.status_code}: {_short(response.text)}",
                    status=response.status_code, body=response.text)


def json_or_none(response: requests.Response) -> Any:
    """The response body as JSON, or None when it is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _short(value: object, limit: int = 300) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


# -- helpers shared by the API destinations -----------------------------------------------------

class RowOutcomes:
    """Per-row outcomes collected from several threads; :meth:`table` builds the
    ``BatchOutcome.row_outcomes`` table (None when nothing was recorded)."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, str, int | None, str | None, str | None]] = []
        self._lock = threading.Lock()

    def add(self, record_key: str, status: str, *, status_code: int | None = None, reason: str | None = None,
            message_id: str | None = None) -> None:
        with self._lock:
            self._rows.append((record_key, status, status_code, _short(reason, 1000) if reason else None, message_id))

    def keys(self) -> set[str]:
        """Record keys that already have an outcome."""
        with self._lock:
            return {row[0] for row in self._rows}

    def count(self, status: str) -> int:
        with self._lock:
            return sum(1 for row in self._rows if row[1] == status)

    def table(self) -> Any:
        import pyarrow as pa

        from syncs.destinations.base import ROW_OUTCOME_SCHEMA

        with self._lock:
            rows = list(self._rows)
        if not rows:
            return None
        columns = list(zip(*rows))
        return pa.table([pa.array(col, type=field.type) for col, field in zip(columns, ROW_OUTCOME_SCHEMA)],
                        schema=ROW_OUTCOME_SCHEMA)


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for the types Arrow hands back (dates, decimals, bytes)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def jsonable(value: Any, *, decimals_as_float: bool = False) -> Any:
    """A value (nested) made JSON-safe; decimals as text unless ``decimals_as_float``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, decimals_as_float=decimals_as_float) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, decimals_as_float=decimals_as_float) for v in value]
    if isinstance(value, decimal.Decimal) and decimals_as_float:
        return float(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json_default(value)


def chunks(n: int, size: int) -> list[range]:
    """Index ranges of at most ``size`` covering ``range(n)`` (an API's per-request limit)."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def check_options(type_name: str, options: Mapping[str, Any], own: set[str] | frozenset[str]) -> None:
    """Reject inline secrets and options neither ``own`` nor shared HTTP options."""
    reject_inline_secrets(options)
    allowed = set(own) | set(HTTP_OPTION_DEFAULTS)
    unknown = sorted(set(options) - allowed, key=str)
    if unknown:
        raise ValueError(f"destination.{unknown[0]}: unknown option for type {type_name!r} "
                         f"(allowed: {', '.join(sorted(allowed))})")


def check_str(options: Mapping[str, Any], key: str, *, required: bool = False, default: str | None = None,
              pattern: str | None = None, hint: str = "") -> str | None:
    """A text option, optionally matching ``pattern``."""
    value = options.get(key, default)
    if value is None:
        if required:
            raise ValueError(f"destination.{key}: missing{f' ({hint})' if hint else ''}")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # ids written without quotes in YAML
    if not isinstance(value, str) or not value or (pattern and not re.match(pattern, value)):
        raise ValueError(f"destination.{key}: {value!r} is not valid{f' ({hint})' if hint else ''}")
    return value


def check_bool(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"destination.{key}: {value!r} must be true or false")
    return value


class FatalDestinationError(HttpError):
    """A failure that no retry or resend of the same rows can fix (bad credentials,
    unknown audience, a misconfigured sender): the run must stop."""


def run_parallel(items: list[Any], fn: Callable[[Any], None], concurrency: int) -> BaseException | None:
    """Call ``fn(item)`` for every item on up to ``concurrency`` threads.

    The first :class:`FatalDestinationError` stops the items not yet started
    and is returned (not raised), so the caller can report what was already
    delivered before deciding to fail. Any other exception propagates.
    """
    abort = threading.Event()
    fatal: list[BaseException] = []
    lock = threading.Lock()

    def guarded(item: Any) -> None:
        if abort.is_set():
            return
        try:
            fn(item)
        except FatalDestinationError as exc:
            with lock:
                fatal.append(exc)
            abort.set()

    if concurrency <= 1 or len(items) <= 1:
        for item in items:
            guarded(item)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="kairos-send") as pool:
            for future in [pool.submit(guarded, item) for item in items]:
                future.result()
    return fatal[0] if fatal else None
