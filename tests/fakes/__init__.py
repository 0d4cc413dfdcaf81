"""Local fake APIs for the destination tests: real HTTP on 127.0.0.1, port 0.

Each fake validates requests the way the real API does (auth, content type,
required fields, signature) and records what it received. Faults are queued
and consumed one per matching request::

    with FakeWebhook(secret=b"s3cret") as fake:
        fake.inject(Fault.status(429, retry_after="1"), Fault.drop(), Fault.slow(2.0))
        ...
        assert len(fake.requests) == 4

Fault kinds: ``status`` (any status, headers and body, e.g. 429 with
Retry-After or a 500), ``slow`` (sleep before answering normally, longer than
the client's time-out), ``drop`` (close the socket without a response).
"Some rows rejected" is API-specific and configured on each fake.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client_port: int = 0  # the client's source port: one port for many requests = a reused connection
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Fault:
    """What to do instead of (or before) the normal answer to one request."""

    kind: str  # 'status' | 'slow' | 'drop'
    code: int = 500  # the HTTP status of a 'status' fault
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    match: str | None = None  # only requests whose path contains this

    @classmethod
    def status(cls, code: int, *, retry_after: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None, match: str | None = None) -> "Fault":
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = retry_after
        return cls("status", code=code, headers=hdrs, body=body, match=match)

    @classmethod
    def slow(cls, delay: float, match: str | None = None) -> "Fault":
        return cls("slow", delay=delay, match=match)

    @classmethod
    def drop(cls, match: str | None = None) -> "Fault":
        return cls("drop", match=match)


class Response:
    """What a fake answers: a status, headers and a JSON (or raw) body."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", "application/json"
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        return json.dumps(self.body).encode(), "application/json"


class FakeServer:
    """Base class: a threaded HTTP server that records requests and plays faults.

    Subclasses implement :meth:`handle` (``Recorded -> Response``). All state
    is guarded by ``self.lock`` because requests arrive on several threads.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------
    def start(self) -> "FakeServer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults and records ----------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def _next_fault(self, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.match is None or fault.match in path:
                    del self.faults[i]
                    return fault
        return None

    def requests_to(self, fragment: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if fragment in r.path]

    # -- dispatch -----------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(handler.path)
        recorded = Recorded(
            method=handler.command, path=parsed.path, query=urllib.parse.parse_qs(parsed.query),
            headers={k.lower(): v for k, v in handler.headers.items()}, body=body,
            client_port=handler.client_address[1],
        )
        with self.lock:
            self.requests.append(recorded)
        fault = self._next_fault(parsed.path)
        if fault is not None and fault.kind == "drop":
            # close without a response: the client sees a dropped connection
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None  # then answer normally (the client has usually given up by now)
        if fault is not None:
            response = Response(fault.code, fault.body if fault.body is not None else {"error": "injected"},
                                fault.headers)
        else:
            try:
                response = self.handle(recorded)
            except Exception as exc:  # noqa: BLE001 - a bug in a fake should show as a 500, not hang
                response = Response(500, {"error": f"fake crashed: {type(exc).__name__}: {exc}"})
        self._write(handler, response)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, response: Response) -> None:
        payload, content_type = response.encode()
        try:
            handler.send_response(response.status)
            headers = {"Content-Type": content_type, **response.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up (time-out): nothing to do

    def handle(self, request: Recorded) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


def bearer(request: Recorded) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


def basic_auth(request: Recorded) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, if any."""
    import base64

    value = request.headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


# -- building destinations and batches the way the engine does --------------------------------

#: fast retry settings so the fault tests take milliseconds, not minutes
FAST_RETRIES: dict[str, Any] = {
    "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05,
    "timeout_seconds": 0.5, "connect_timeout_seconds": 0.5, "max_attempts": 4,
}


def make_destination(cls: Any, options: dict[str, Any], *, mode: str = "insert", name: str = "test_sync") -> Any:
    """A destination built from a SyncConfig as ``syncs.config`` builds it (validated options)."""
    from kairos.settings import load_settings
    from syncs.config import DestinationConfig, SyncConfig

    config = SyncConfig(name=name, description="test", model="sync_test__rows", mode=mode, primary_key="id",
                        destination=DestinationConfig(type=cls.type_name, options=cls.validate_options(options)))
    return cls(config, load_settings())


def make_batch(columns: dict[str, list[Any]], keys: list[str] | None = None, *, seq: int = 1,
               run_id: str = "20261123T101500Z-abc123", operation: str = "insert") -> Any:
    """A :class:`~syncs.destinations.base.Batch` like ``engine._send_batch`` builds."""
    import pyarrow as pa

    from syncs.destinations.base import Batch

    table = pa.table(columns)
    keys = keys if keys is not None else [f"k{i}" for i in range(table.num_rows)]
    return Batch(batch_id=f"{run_id}-{seq:05d}", seq=seq, rows=table, keys=pa.array(keys, pa.string()),
                 operation=operation)


def outcomes_by_key(outcome: Any) -> dict[str, dict[str, Any]]:
    """``BatchOutcome.row_outcomes`` as ``{record_key: row}`` ({} when None)."""
    if outcome.row_outcomes is None:
        return {}
    return {row["record_key"]: row for row in outcome.row_outcomes.to_pylist()}
