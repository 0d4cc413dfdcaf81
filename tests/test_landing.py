"""The landing-zone loader: files named by table appended to the raw tables
exactly once, malformed files rejected with a reason (DuckDB; one PostgreSQL
round trip)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kairos.landing import (
    CONTRACT_TABLES,
    LandingFile,
    file_format,
    ledger_rows,
    load_landing,
    loaded_batch,
    pending_files,
    table_for,
)
from kairos.settings import Settings
from kairos.warehouse import connect

EVENT = {
    "event_id": "evt-1", "event_name": "add_to_cart", "source": "web", "anonymous_id": "anon-1",
    "customer_id": "C1", "cart_id": "crt_1", "product_id": "P1", "quantity": 2, "price": 9.5,
    "event_ts": "2026-11-20T10:00:00.000Z",
}


def _raw_tables(settings: Settings) -> None:
    """Empty raw tables with the generator's types (events, orders, consents)."""
    with connect(settings) as wh:
        wh.ensure_schema("raw")
        wh.execute(
            "create table raw.events (event_id text, event_name text, source text, anonymous_id text, "
            "customer_id text, email text, session_id text, cart_id text, product_id text, quantity bigint, "
            "price double precision, order_id text, push_token text, page_url text, event_ts text, "
            "received_at timestamp)"
        )
        wh.execute(
            "create table raw.orders (order_id text, customer_id text, email text, phone text, status text, "
            "source text, store_id text, currency text, order_total double precision, "
            "discount_total double precision, ordered_at timestamp, delivered_at timestamp, updated_at timestamp)"
        )
        wh.execute(
            "create table raw.order_lines (order_id text, line_number bigint, product_id text, quantity bigint, "
            "unit_price double precision, discount_amount double precision)"
        )


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _count(settings: Settings, table: str) -> int:
    with connect(settings, read_only=True) as wh:
        return int(wh.scalar(f"select count(*) from raw.{table}"))


def test_names_and_formats(tmp_path):
    landing = tmp_path / "landing"
    assert table_for(landing / "order_lines_001.csv", landing) == "order_lines"
    assert table_for(landing / "orders.csv", landing) == "orders"
    assert table_for(landing / "events-20261120.jsonl", landing) == "events"
    assert table_for(landing / "eventsX.jsonl", landing) is None
    assert table_for(landing / "events" / "batch-1.jsonl", landing) == "events"
    assert file_format("a.jsonl.gz") == "json" and file_format("b.CSV") == "csv"
    assert file_format("c.parquet") == "parquet" and file_format("d.xlsx") is None


def test_pending_files_skips_temporary_processed_and_rejected(tmp_path):
    landing = tmp_path / "landing"
    _jsonl(landing / "events-1.jsonl", [EVENT])
    _jsonl(landing / "events" / "b.jsonl", [EVENT])
    for name in (".events-2.jsonl", "events-3.jsonl.tmp", "_events.jsonl", "processed/events-0.jsonl",
                 "rejected/events-9.jsonl"):
        _jsonl(landing / name, [EVENT])
    names = sorted(f.path.name for f in pending_files(landing))
    assert names == ["b.jsonl", "events-1.jsonl"]
    assert pending_files(tmp_path / "missing") == []


def test_jsonl_csv_parquet_append_with_types_and_stamp(duck_settings):
    _raw_tables(duck_settings)
    landing = duck_settings.landing_dir
    _jsonl(landing / "events-a.jsonl", [EVENT, {**EVENT, "event_id": "evt-2", "quantity": None,
                                                 "received_at": "2026-11-20 10:00:05"}])
    (landing / "orders.csv").write_text(
        "order_id,customer_id,status,order_total,ordered_at\nO1,C1,placed,12.50,2026-11-20 09:00:00\n", "utf-8")
    pq.write_table(pa.table({"order_id": ["O1"], "line_number": [1], "quantity": [2]}), landing / "order_lines.parquet")
    with gzip.open(landing / "events-b.jsonl.gz", "wt") as f:
        f.write(json.dumps({**EVENT, "event_id": "evt-3"}) + "\n")

    report = load_landing(duck_settings, run_id="run-1")
    assert not report.rejected, report.rejected
    assert report.rows_by_table() == {"events": 3, "orders": 1, "order_lines": 1}
    assert not list(landing.glob("*.*")), "every loaded file left the landing folder"
    assert len(list((landing / "processed").rglob("*"))) >= 4

    with connect(duck_settings, read_only=True) as wh:
        rows = wh.fetchall("select event_id, quantity, price, event_ts, received_at from raw.events order by event_id")
        assert rows[0][:4] == ("evt-1", 2, 9.5, "2026-11-20T10:00:00.000Z"), "a timestamp-like JSON string stays text"
        assert rows[1][1] is None and str(rows[1][4]) == "2026-11-20 10:00:05"
        assert all(r[4] is not None for r in rows), "received_at is stamped where missing"
        assert wh.fetchall("select order_total, ordered_at is not null from raw.orders") == [(12.5, True)]
        ledger = ledger_rows(wh, "run-1")
        assert {r["status"] for r in ledger} == {"loaded"} and len(ledger) == 4
        batch = loaded_batch(wh, "events", "run-1")
        assert batch is not None and sorted(batch.column("event_id").to_pylist()) == ["evt-1", "evt-2", "evt-3"]
        assert loaded_batch(wh, "consents", "run-1") is None


def test_a_file_is_loaded_exactly_once(duck_settings, monkeypatch):
    _raw_tables(duck_settings)
    landing = duck_settings.landing_dir
    _jsonl(landing / "events-a.jsonl", [EVENT])
    assert load_landing(duck_settings).rows_by_table() == {"events": 1}
    # the same bytes delivered again (or a move lost after the commit): recorded, not appended
    _jsonl(landing / "events-a.jsonl", [EVENT])
    report = load_landing(duck_settings)
    assert [f.status for f in report.files] == ["duplicate"]
    assert _count(duck_settings, "events") == 1
    assert not (landing / "events-a.jsonl").exists()
    assert len(list((landing / "processed").rglob("events-a*.jsonl"))) == 2

    # a crash between the commit and the move: the next load only moves the file
    import kairos.landing as landing_mod

    _jsonl(landing / "events-b.jsonl", [{**EVENT, "event_id": "evt-b"}])
    real_move = landing_mod._move
    calls = {"n": 0}

    def crash_once(path, folder):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk went away")
        return real_move(path, folder)

    monkeypatch.setattr(landing_mod, "_move", crash_once)
    with pytest.raises(OSError):
        load_landing(duck_settings)
    assert (landing / "events-b.jsonl").exists() and _count(duck_settings, "events") == 2
    assert [f.status for f in load_landing(duck_settings).files] == ["duplicate"]
    assert _count(duck_settings, "events") == 2


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("events-bad.jsonl", '{"event_id": "x"}\n{"event_id": oops\n', "cannot read"),
        ("events-drift.jsonl", json.dumps({**EVENT, "coupon_code": "X"}) + "\n", "coupon_code"),
        ("events-type.jsonl", json.dumps({**EVENT, "quantity": "two"}) + "\n", "cannot read"),
        ("shipments.jsonl", json.dumps({"id": 1}) + "\n", "matches no raw table"),
        ("events.xlsx", "binary", "unknown file format"),
        ("consents.jsonl", json.dumps({"consent_id": "CS1"}) + "\n", "does not exist"),
    ],
)
def test_malformed_files_are_rejected_with_a_reason(duck_settings, name, content, reason):
    _raw_tables(duck_settings)
    landing = duck_settings.landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text(content, encoding="utf-8")
    report = load_landing(duck_settings)
    assert [f.status for f in report.files] == ["rejected"]
    assert reason in (report.files[0].reason or ""), report.files[0].reason
    assert (landing / "rejected" / name).exists()
    assert reason in (landing / "rejected" / f"{name}.reason.txt").read_text()
    assert _count(duck_settings, "events") == 0
    with connect(duck_settings, read_only=True) as wh:
        assert [r["status"] for r in ledger_rows(wh)] == ["rejected"]


def test_contract_tables_match_the_generator():
    from kairos.generator import RAW_TABLES

    assert set(CONTRACT_TABLES) == set(RAW_TABLES)


@pytest.mark.postgres
def test_landing_on_postgres(pg_settings):
    _raw_tables(pg_settings)
    landing = pg_settings.landing_dir
    _jsonl(landing / "events-a.jsonl", [EVENT, {**EVENT, "event_id": "evt-2"}])
    (landing / "orders.csv").write_text("order_id,order_total\nO1,3.5\n", "utf-8")
    report = load_landing(pg_settings, run_id="r")
    assert report.rows_by_table() == {"events": 2, "orders": 1}
    _jsonl(landing / "events-a.jsonl", [EVENT, {**EVENT, "event_id": "evt-2"}])
    assert [f.status for f in load_landing(pg_settings).files] == ["duplicate"]
    with connect(pg_settings) as wh:
        assert wh.scalar("select count(*) from raw.events") == 2
        assert wh.scalar("select event_ts from raw.events limit 1") == EVENT["event_ts"]
        assert loaded_batch(wh, "events", "r").num_rows == 2
