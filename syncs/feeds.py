"""Pull feeds: a small HTTP service from which each channel pulls its own
synced lists, as CSV or JSON, page by page, with deltas since a cursor.

    kairos feeds --port 8600            # 127.0.0.1 unless --host says otherwise

A *feed* is any sync that keeps a snapshot of what its destination holds
(mode ``upsert`` or ``mirror``, or ``destination: {type: feed}`` for a list
that is only ever pulled). What a feed serves is that snapshot: the rows as
they were last delivered, never the model's unsynced state.

Requests::

    GET /feeds                               the feeds this token may read (JSON)
    GET /feeds/<sync>.json?cursor=&limit=    one page of rows as JSON
    GET /feeds/<sync>.csv?cursor=&limit=     the same as CSV
    GET /healthz                             200 "ok" (no token needed)

* **Tokens**: ``Authorization: Bearer <token>``. Each channel has its own
  token in the environment, ``KAIROS_FEED_TOKEN_<CHANNEL>`` (e.g.
  ``KAIROS_FEED_TOKEN_EMAIL`` for syncs with ``channel: email``). No or an
  unknown token: 401. A token for another channel than the sync's: 403.
* **Pages**: rows come in commit order (``ops.sync_batches.commit_seq``, then
  the record key); ``limit`` (default 1000, at most 10000) rows per page. The
  answer carries ``next_cursor`` (JSON body, or the ``X-Next-Cursor`` header
  and a ``Link: rel="next"`` for CSV) and ``has_more``.
* **Deltas**: without a cursor the feed lists the current rows. With a cursor
  it lists what changed after it: new and changed rows, and removed rows as
  tombstones (``deleted: true``; CSV column ``_kairos_deleted``). A client
  keeps the last ``next_cursor`` and polls with it.
* **ETags**: every page has a (weak) ETag derived from the feed's last commit
  and the request; ``If-None-Match`` with it answers 304 while nothing new was
  committed.
* **Logging**: every pull, refused ones included, is a row in
  ``ops.feed_pulls`` (time, channel, sync, format, cursor, rows, status,
  client address, duration).

DuckDB admits one writing process per file: while a sync runs in another
process the feed answers 503 with ``Retry-After`` (the pull is logged to the
service's log instead). PostgreSQL has no such limit.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import decimal
import hashlib
import hmac
import io
import json
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

from syncs.destinations.base import Batch, BatchOutcome, Destination

if TYPE_CHECKING:
    from kairos.settings import Settings
    from kairos.warehouse import Warehouse
    from syncs.config import SyncConfig

log = logging.getLogger("kairos.feeds")

TOKEN_PREFIX = "KAIROS_FEED_TOKEN_"
DEFAULT_PORT = 8600
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
PULLS_TABLE = "feed_pulls"
_PATH = re.compile(r"^/feeds/([a-z][a-z0-9_]{0,62})\.(csv|json)$")

_PULLS_DDL = """
create table if not exists {t} (
    pulled_at timestamp not null,
    channel varchar,
    sync_name varchar,
    format varchar,
    cursor varchar,
    rows integer,
    status integer not null,
    remote varchar,
    duration_ms double precision
)"""


class FeedDestination(Destination):
    """A list the channel pulls instead of being pushed to: delivering a batch
    is committing it to the sync's snapshot, which the feed service serves."""

    type_name: ClassVar[str] = "feed"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})
    default_concurrency: ClassVar[int] = 1
    confirms_delivery: ClassVar[bool] = True  # delivering is the engine's own commit

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return super().validate_options(options)

    def send_batch(self, batch: Batch) -> BatchOutcome:
        # the engine commits the rows to the snapshot when this returns
        return BatchOutcome(outputs=[f"feed:{self.sync.name}"])

    def describe(self) -> str:
        return f"pull feed /feeds/{self.sync.name}"


# -- tokens and cursors --------------------------------------------------------------------

def tokens_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{token: channel}`` from ``KAIROS_FEED_TOKEN_<CHANNEL>`` variables (empty ones ignored)."""
    environ = os.environ if environ is None else environ
    tokens: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(TOKEN_PREFIX) and value.strip():
            tokens[value.strip()] = name[len(TOKEN_PREFIX):].lower()
    return tokens


def encode_cursor(commit_seq: int, key: str | None) -> str:
    """An opaque cursor: the position after ``(commit_seq, key)`` (key None: after the whole commit)."""
    raw = json.dumps([int(commit_seq), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str | None]:
    """The position a cursor stands for; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        seq, key = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any garbage is a bad request
        raise ValueError("invalid cursor") from exc
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not (key is None or isinstance(key, str)):
        raise ValueError("invalid cursor")
    return seq, key


# -- the service (transport-free, so it is easy to test) --------------------------------------

@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    rows: int | None = None


@dataclass
class _Pull:
    channel: str | None = None
    sync_name: str | None = None
    fmt: str | None = None
    cursor: str | None = None


class FeedService:
    """Answers feed requests from the warehouse; see the module docstring."""

    def __init__(self, configs: Mapping[str, "SyncConfig"], settings: "Settings",
                 tokens: Mapping[str, str] | None = None) -> None:
        self.configs = dict(configs)
        self.settings = settings
        self.tokens = dict(tokens_from_env() if tokens is None else tokens)
        self._pulls_ready = False
        self._lock = threading.Lock()

    # -- entry point ---------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], remote: str = "") -> Response:
        """One request; every one is logged to ``ops.feed_pulls`` (best effort)."""
        started = time.perf_counter()
        pull = _Pull()
        try:
            response = self._route(method, target, {k.lower(): v for k, v in headers.items()}, pull)
        except _Unavailable as exc:
            response = _json_response(503, {"error": str(exc)}, {"Retry-After": "5"})
        except Exception as exc:  # noqa: BLE001 - a broken request must not kill the server
            log.exception("feed request failed: %s %s", method, target)
            response = _json_response(500, {"error": f"{type(exc).__name__}: {exc}"})
        if not target.startswith("/healthz"):
            self._log_pull(pull, response, remote, time.perf_counter() - started)
        return response

    def _route(self, method: str, target: str, headers: Mapping[str, str], pull: _Pull) -> Response:
        parsed = urllib.parse.urlsplit(target)
        if parsed.path == "/healthz":
            return Response(200, b"ok", {"Content-Type": "text/plain"})
        if method not in ("GET", "HEAD"):
            return _json_response(405, {"error": "only GET"}, {"Allow": "GET, HEAD"})
        channel = self._channel(headers)
        pull.channel = channel
        if channel is None:
            return _json_response(401, {"error": "a bearer token is required (Authorization: Bearer <token>)"},
                                  {"WWW-Authenticate": 'Bearer realm="kairos-feeds"'})
        if parsed.path in ("/feeds", "/feeds/"):
            mine = [self._describe(c) for c in self.configs.values() if self._is_feed(c) and c.channel == channel]
            return _json_response(200, {"channel": channel, "feeds": mine})
        match = _PATH.match(parsed.path)
        if not match:
            return _json_response(404, {"error": "no such path; try /feeds"})
        sync_name, fmt = match.groups()
        pull.sync_name, pull.fmt = sync_name, fmt
        config = self.configs.get(sync_name)
        if config is None or not self._is_feed(config):
            return _json_response(404, {"error": f"no feed named {sync_name!r}"})
        if config.channel != channel:
            return _json_response(403, {"error": f"this token cannot read the {sync_name!r} feed"})
        query = urllib.parse.parse_qs(parsed.query)
        cursor = (query.get("cursor") or [""])[-1] or None
        pull.cursor = cursor
        try:
            position = decode_cursor(cursor) if cursor else None
            limit = int((query.get("limit") or [str(DEFAULT_LIMIT)])[-1])
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        except ValueError as exc:
            return _json_response(400, {"error": str(exc)})
        return self._page(config, fmt, cursor, position, limit, headers)

    # -- auth ------------------------------------------------------------------------------------
    def _channel(self, headers: Mapping[str, str]) -> str | None:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            return None
        given = value[7:].strip().encode()
        found = None
        for token, channel in self.tokens.items():  # compare with every token: no early exit
            if hmac.compare_digest(token.encode(), given):
                found = channel
        return found

    @staticmethod
    def _is_feed(config: "SyncConfig") -> bool:
        return config.keeps_snapshot

    @staticmethod
    def _describe(config: "SyncConfig") -> dict[str, Any]:
        return {"sync": config.name, "mode": config.mode, "description": config.description,
                "csv": f"/feeds/{config.name}.csv", "json": f"/feeds/{config.name}.json"}

    # -- data ------------------------------------------------------------------------------------
    def _page(self, config: "SyncConfig", fmt: str, cursor: str | None, position: tuple[int, str | None] | None,
              limit: int, headers: Mapping[str, str]) -> Response:
        from kairos.warehouse import qualified, quote_ident
        from syncs.ledger import BATCH_ID, BATCHES, KEY, OP, SCHEMA, snapshot_table_name

        with self._connect() as wh:
            table = snapshot_table_name(config.name)
            if not wh.table_exists(SCHEMA, table):
                last_seq = 0
                columns: list[str] = []
            else:
                last_seq = int(wh.scalar(
                    f"select coalesce(max(commit_seq), 0) from {qualified(SCHEMA, BATCHES)} "
                    "where sync_name = ? and status = 'sent'", [config.name]) or 0)
                columns = [c for c in wh.columns(SCHEMA, table) if not c.startswith("_kairos_")]
            etag = 'W/"' + hashlib.sha1(
                json.dumps([config.name, fmt, cursor, limit, last_seq, columns]).encode()).hexdigest()[:32] + '"'
            if _etag_matches(headers.get("if-none-match"), etag):
                return Response(304, b"", {"ETag": etag}, rows=0)
            rows: list[dict[str, Any]] = []
            if columns:
                k, op = quote_ident(KEY), quote_ident(OP)
                where, params = ["true"], [config.name]
                if position is None:
                    where.append(f"v.{op} <> 'delete'")  # the current list: no tombstones
                else:
                    seq, key = position
                    if key is None:
                        where.append("b.commit_seq > ?")
                        params.append(seq)
                    else:
                        where.append(f"(b.commit_seq > ? or (b.commit_seq = ? and v.{k} > ?))")
                        params.extend([seq, seq, key])
                select = ", ".join([f"v.{quote_ident(c)}" for c in columns]
                                   + [f"v.{k} as _kairos_key", f"v.{op} = 'delete' as _kairos_deleted",
                                      "b.commit_seq as _kairos_commit_seq", "b.finished_at as _kairos_synced_at"])
                data = wh.fetch_arrow(
                    f"select {select} from {qualified(SCHEMA, table)} as v join {qualified(SCHEMA, BATCHES)} as b "
                    f"on b.sync_name = ? and b.batch_id = v.{quote_ident(BATCH_ID)} and b.status = 'sent' "
                    f"where {' and '.join(where)} order by b.commit_seq, v.{k} limit {int(limit) + 1}", params)
                rows = data.to_pylist() if data.num_rows else []
        has_more = len(rows) > limit
        rows = rows[:limit]
        if rows:
            next_cursor = encode_cursor(rows[-1]["_kairos_commit_seq"], rows[-1]["_kairos_key"])
        elif position is not None:
            next_cursor = cursor or encode_cursor(last_seq, None)
        else:
            next_cursor = encode_cursor(last_seq, None)
        common = {"ETag": etag, "X-Next-Cursor": next_cursor, "X-Has-More": "true" if has_more else "false",
                  "Cache-Control": "private, no-cache"}
        if has_more:
            common["Link"] = f'</feeds/{config.name}.{fmt}?cursor={next_cursor}&limit={limit}>; rel="next"'
        if fmt == "json":
            body = {
                "sync": config.name, "channel": config.channel, "columns": columns,
                "rows": [{"key": r["_kairos_key"], "deleted": bool(r["_kairos_deleted"]),
                          "synced_at": _iso(r["_kairos_synced_at"]),
                          "data": {c: _plain(r[c]) for c in columns}} for r in rows],
                "next_cursor": next_cursor, "has_more": has_more,
            }
            response = _json_response(200, body, common)
        else:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(["_kairos_key", "_kairos_deleted", "_kairos_synced_at", *columns])
            for r in rows:
                writer.writerow([r["_kairos_key"], "true" if r["_kairos_deleted"] else "false",
                                 _iso(r["_kairos_synced_at"]), *[_csv_value(r[c]) for c in columns]])
            response = Response(200, buf.getvalue().encode(), {"Content-Type": "text/csv; charset=utf-8", **common})
        response.rows = len(rows)
        return response

    def _connect(self) -> "Warehouse":
        from kairos.warehouse import Warehouse

        try:
            return Warehouse(self.settings)
        except Exception as exc:  # DuckDB: another process holds the file (a sync is running)
            if "lock" in str(exc).lower():
                raise _Unavailable("the warehouse is busy (a sync is writing); retry shortly") from exc
            raise

    # -- the pull log ---------------------------------------------------------------------------
    def _log_pull(self, pull: _Pull, response: Response, remote: str, seconds: float) -> None:
        from kairos.warehouse import qualified

        from syncs.ledger import SCHEMA, utcnow

        row = [utcnow(), pull.channel, pull.sync_name, pull.fmt, pull.cursor, response.rows, response.status,
               remote, round(seconds * 1000, 3)]
        log.info("feed pull: channel=%s sync=%s format=%s rows=%s status=%s from %s", pull.channel, pull.sync_name,
                 pull.fmt, response.rows, response.status, remote)
        try:
            with self._connect() as wh:
                table = qualified(SCHEMA, PULLS_TABLE)
                with self._lock:
                    if not self._pulls_ready:
                        wh.ensure_schema(SCHEMA)
                        wh.execute(_PULLS_DDL.format(t=table))
                        self._pulls_ready = True
                wh.execute(f"insert into {table} (pulled_at, channel, sync_name, format, cursor, rows, status, "
                           "remote, duration_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        except Exception as exc:  # noqa: BLE001 - the answer matters more than its log row
            log.warning("feed pull not logged in %s.%s: %s", SCHEMA, PULLS_TABLE, exc)


class _Unavailable(RuntimeError):
    pass


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    weak = etag[2:] if etag.startswith("W/") else etag
    return any(t.strip() in (etag, weak) or t.strip().removeprefix("W/") == weak for t in header.split(","))


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body, default=_plain, ensure_ascii=False).encode(),
                    {"Content-Type": "application/json", **(headers or {})})


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=value.microsecond).isoformat() + ("Z" if value.tzinfo is None else "")
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_plain)
    return value


# -- HTTP ----------------------------------------------------------------------------------------

def make_server(service: FeedService, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """A threaded HTTP server answering with ``service`` (port 0: any free port)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kairos-feeds"

        def log_message(self, *args: Any) -> None:  # every pull is logged by the service
            pass

        def _answer(self, head_only: bool) -> None:
            response = service.handle(self.command if not head_only else "GET", self.path, dict(self.headers),
                                      remote=self.client_address[0])
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if not head_only and response.body:
                self.wfile.write(response.body)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(head_only=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head_only=True)

        def do_POST(self) -> None:  # noqa: N802
            self._answer(head_only=False)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve(port: int = DEFAULT_PORT, host: str = "127.0.0.1", definitions: Any = None,
          settings: "Settings | None" = None) -> int:
    """Run the feed service until interrupted (the ``kairos feeds`` command)."""
    from kairos.settings import load_settings
    from syncs.config import load_sync_configs

    configs = load_sync_configs(definitions)
    service = FeedService(configs, settings or load_settings())
    feeds = sorted(c.name for c in configs.values() if c.keeps_snapshot)
    channels = sorted(set(service.tokens.values()))
    server = make_server(service, host, port)
    print(f"kairos feeds on http://{host}:{server.server_address[1]}/feeds "
          f"({len(feeds)} feed(s): {', '.join(feeds) or 'none'}; tokens for: {', '.join(channels) or 'no channel'})",
          flush=True)
    if not channels:
        print(f"warning: no {TOKEN_PREFIX}<CHANNEL> variable is set: every request will get 401", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def add_feeds_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``kairos feeds`` on the CLI's sub-parsers."""
    parser = subparsers.add_parser("feeds", help="serve the synced lists to the channels that pull them (HTTP)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.set_defaults(func=lambda args: serve(port=args.port, host=args.host))
    return parser


__all__ = ["FeedDestination", "FeedService", "add_feeds_parser", "decode_cursor", "encode_cursor", "make_server",
           "serve", "tokens_from_env"]
