"""Pull feeds over real HTTP on 127.0.0.1: tokens per channel, pages, deltas
with tombstones, ETags, the pull log; on DuckDB and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from kairos.settings import Settings
from kairos.warehouse import Warehouse
from syncs.config import load_sync_configs
from syncs.engine import run_sync
from syncs.feeds import FeedService, decode_cursor, encode_cursor, make_server, tokens_from_env

TOKENS = {"tok-email-123": "email", "tok-sms-456": "sms"}


def make_models(settings: Settings, n: int = 7) -> None:
    with Warehouse(settings) as wh:
        wh.ensure_schema("syncs")
        for table in ("sync_feed__newsletter", "sync_feed__sms_optins"):
            wh.execute(f"drop table if exists syncs.{table}")
            wh.execute(f"create table syncs.{table} (customer_key varchar, email varchar, score integer)")
            wh.executemany(f"insert into syncs.{table} values (?, ?, ?)",
                           [(f"c{i:02d}", f"p{i}@example.com", i) for i in range(n)])


def write_defs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    defs = {
        "newsletter_list": {"model": "sync_feed__newsletter", "mode": "mirror", "primary_key": "customer_key",
                            "channel": "email", "batch_size": 3, "destination": {"type": "feed"}},
        "sms_optins": {"model": "sync_feed__sms_optins", "mode": "upsert", "primary_key": "customer_key",
                       "channel": "sms", "destination": {"type": "feed"}},
        "push_file": {"model": "sync_feed__sms_optins", "mode": "insert", "primary_key": "customer_key",
                      "channel": "sms", "destination": {"type": "file"}},
    }
    for name, body in defs.items():
        (directory / f"{name}.yml").write_text(yaml.safe_dump(body))
    return directory


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh_settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue("duck_settings" if request.param == "duckdb" else "pg_settings")


@pytest.fixture
def feeds(wh_settings: Settings, tmp_path: Path) -> Iterator[dict[str, Any]]:
    make_models(wh_settings)
    configs = load_sync_configs(write_defs(tmp_path / "defs"))
    for name in ("newsletter_list", "sms_optins"):
        run_sync(configs[name], settings=wh_settings)
    server = make_server(FeedService(configs, wh_settings, tokens=TOKENS), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "configs": configs, "settings": wh_settings}
    finally:
        server.shutdown()
        server.server_close()


def get(url: str, token: str | None = None, **headers: str) -> requests.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(url, headers=headers, timeout=10)


def pull_all(base: str, sync: str, token: str, limit: int, cursor: str | None = None
             ) -> tuple[list[dict[str, Any]], str, int]:
    """Every page from ``cursor`` on; returns rows, the final cursor and the number of pages."""
    rows, pages = [], 0
    while True:
        url = f"{base}/feeds/{sync}.json?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = get(url, token).json()
        pages += 1
        rows += body["rows"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return rows, cursor, pages


def test_authorisation(feeds: dict[str, Any]) -> None:
    base = feeds["url"]
    assert get(f"{base}/healthz").status_code == 200
    no_token = get(f"{base}/feeds/newsletter_list.json")
    assert no_token.status_code == 401 and no_token.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(f"{base}/feeds/newsletter_list.json", "not-a-token").status_code == 401
    assert get(f"{base}/feeds/newsletter_list.csv", "tok-sms-456").status_code == 403  # another channel's list
    assert get(f"{base}/feeds/sms_optins.json", "tok-email-123").status_code == 403
    assert get(f"{base}/feeds/sms_optins.json", "tok-sms-456").status_code == 200
    assert get(f"{base}/feeds/nope.json", "tok-sms-456").status_code == 404
    assert get(f"{base}/feeds/push_file.json", "tok-sms-456").status_code == 404  # insert mode to files: no feed
    listing = get(f"{base}/feeds", "tok-email-123").json()
    assert listing["channel"] == "email" and [f["sync"] for f in listing["feeds"]] == ["newsletter_list"]
    assert get(f"{base}/feeds/newsletter_list.json?limit=0", "tok-email-123").status_code == 400
    assert get(f"{base}/feeds/newsletter_list.json?cursor=garbage", "tok-email-123").status_code == 400

    with Warehouse(feeds["settings"]) as wh:
        pulls = wh.fetchall("select channel, sync_name, status from ops.feed_pulls order by pulled_at")
    statuses = [p[2] for p in pulls]
    assert statuses == [401, 401, 403, 403, 200, 404, 404, 200, 400, 400]
    assert pulls[2] == ("sms", "newsletter_list", 403) and pulls[0][0] is None


def test_pages_deltas_tombstones_and_etags(feeds: dict[str, Any]) -> None:
    base, settings, token = feeds["url"], feeds["settings"], "tok-email-123"
    rows, cursor, pages = pull_all(base, "newsletter_list", token, limit=3)
    assert pages == 3 and [r["key"] for r in rows] == [f"c{i:02d}" for i in range(7)]
    assert rows[0]["data"] == {"customer_key": "c00", "email": "p0@example.com", "score": 0}
    assert not any(r["deleted"] for r in rows) and rows[0]["synced_at"].endswith("Z")

    # the same page again: ETag, then 304 with If-None-Match
    first = get(f"{base}/feeds/newsletter_list.json?limit=3", token)
    etag = first.headers["ETag"]
    again = get(f"{base}/feeds/newsletter_list.json?limit=3", token, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # nothing new since the cursor: an empty delta, the same cursor
    empty = get(f"{base}/feeds/newsletter_list.json?cursor={cursor}", token).json()
    assert empty["rows"] == [] and empty["next_cursor"] == cursor and not empty["has_more"]

    # the model changes and the sync runs: the delta has the change, the new row and a tombstone
    with Warehouse(settings) as wh:
        wh.execute("update syncs.sync_feed__newsletter set score = 50 where customer_key = 'c01'")
        wh.execute("delete from syncs.sync_feed__newsletter where customer_key = 'c02'")
        wh.execute("insert into syncs.sync_feed__newsletter values ('c99', 'new@example.com', 99)")
    result = run_sync(feeds["configs"]["newsletter_list"], settings=settings)
    assert (result.changed, result.added, result.removed) == (1, 1, 1)
    assert get(f"{base}/feeds/newsletter_list.json?limit=3", token,
               **{"If-None-Match": etag}).status_code == 200  # the list changed: a new ETag
    delta, cursor2, _ = pull_all(base, "newsletter_list", token, limit=2, cursor=cursor)
    by_key = {r["key"]: r for r in delta}
    assert set(by_key) == {"c01", "c02", "c99"}
    assert by_key["c02"]["deleted"] and by_key["c02"]["data"]["email"] == "p2@example.com"
    assert by_key["c01"]["data"]["score"] == 50 and not by_key["c99"]["deleted"]
    assert pull_all(base, "newsletter_list", token, limit=2, cursor=cursor2)[0] == []

    # the full list now: current rows only, no tombstones
    current, _, _ = pull_all(base, "newsletter_list", token, limit=100)
    assert sorted(r["key"] for r in current) == ["c00", "c01", "c03", "c04", "c05", "c06", "c99"]

    # CSV: the same rows, with the meta columns first and the cursor in headers
    response = get(f"{base}/feeds/newsletter_list.csv?limit=4", token)
    assert response.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == ["_kairos_key", "_kairos_deleted", "_kairos_synced_at", "customer_key", "email", "score"]
    assert len(table) == 4 and response.headers["X-Has-More"] == "true"
    assert 'rel="next"' in response.headers["Link"]
    rest = get(f"{base}/feeds/newsletter_list.csv?limit=4&cursor={response.headers['X-Next-Cursor']}", token)
    # a client applies rows in order; pages after a cursor may carry tombstones (removals)
    listed: dict[str, dict] = {}
    for row in table + list(csv.DictReader(io.StringIO(rest.text))):
        if row["_kairos_deleted"] == "true":
            listed.pop(row["_kairos_key"], None)
        else:
            listed[row["_kairos_key"]] = row
    assert sorted(listed) == ["c00", "c01", "c03", "c04", "c05", "c06", "c99"]
    assert listed["c01"]["score"] == "50"

    with Warehouse(settings) as wh:
        logged = wh.fetchall("select count(*), sum(rows) from ops.feed_pulls where channel = 'email' and status = 200")
    assert logged[0][0] >= 10 and logged[0][1] >= 20


def test_cursor_round_trip_and_tokens_from_env() -> None:
    assert decode_cursor(encode_cursor(12, "c01")) == (12, "c01")
    assert decode_cursor(encode_cursor(3, None)) == (3, None)
    with pytest.raises(ValueError):
        decode_cursor("eyJ4Ijox")
    assert tokens_from_env({"KAIROS_FEED_TOKEN_EMAIL": "a", "KAIROS_FEED_TOKEN_SMS": " ", "OTHER": "x"}) == {
        "a": "email"}


def test_feed_cli_parser() -> None:
    from kairos.cli import build_parser

    args = build_parser().parse_args(["feeds", "--port", "8123"])
    assert args.port == 8123 and args.host == "127.0.0.1" and callable(args.func)
