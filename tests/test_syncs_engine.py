"""The sync engine end to end on a real DuckDB file and a real PostgreSQL
database: ledger anti-join, batches, files, dry runs, failures, the CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

from kairos.settings import Settings
from kairos.warehouse import Warehouse
from syncs.config import SyncConfig, load_sync_configs
from syncs.destinations import base as dest_base
from syncs.destinations.base import Batch, BatchOutcome, Destination
from syncs.engine import SyncFailed, run_sync
from syncs.ledger import read_records

SYNC = "test_cart_file"
MODEL = "sync_file__abandoned_cart_intents"
FOLDER = "abandoned_cart_email"

SOURCE_DDL = f"""
create table syncs.{MODEL} (
    intent_id varchar, customer_key varchar, email varchar, first_name varchar, scenario_id varchar,
    step integer, cart_id varchar, cart_value numeric(18, 2), product_ids varchar, due_at timestamp
)"""


# -- helpers shared with test_syncs_exactly_once -------------------------------------

def intent(i: int, **over: Any) -> tuple:
    row = {
        "intent_id": f"int_{i:04d}", "customer_key": f"cust_{i % 7}", "email": f"p{i}@example.com",
        "first_name": "Ada, \"the\" first" if i == 1 else f"Name{i}", "scenario_id": "abandoned_cart",
        "step": 1 + i % 3, "cart_id": f"cart_{i}", "cart_value": Decimal("19.90") + i,
        "product_ids": f"sku_{i},sku_{i + 1}", "due_at": dt.datetime(2026, 11, 23, 9, i % 60),
    }
    row.update(over)
    return tuple(row.values())


def make_source(settings: Settings, ids: range | list[int], replace: bool = True) -> None:
    """Create (or add to) the test's own syncs.sync_file__abandoned_cart_intents table."""
    with Warehouse(settings) as wh:
        wh.ensure_schema("syncs")
        if replace:
            wh.execute(f"drop table if exists syncs.{MODEL}")
            wh.execute(SOURCE_DDL)
        wh.executemany(f"insert into syncs.{MODEL} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [intent(i) for i in ids])


def write_config(directory: Path, name: str = SYNC, **over: Any) -> SyncConfig:
    body: dict[str, Any] = {
        "description": "test-only copy of the abandoned-cart file sync",
        "model": MODEL,
        "mode": "insert",
        "primary_key": "intent_id",
        "channel": "email",
        "batch_size": 3,
        "destination": {"type": "file", "format": "csv", "folder": FOLDER},
    }
    body.update(over)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yml").write_text(yaml.safe_dump(body, sort_keys=False))
    return load_sync_configs(directory)[name]


def output_files(settings: Settings, ext: str = "csv", folder: str = FOLDER) -> list[Path]:
    return sorted((settings.output_dir / folder).glob(f"*.{ext}"))


def delivered_ids(settings: Settings, folder: str = FOLDER) -> Counter:
    """How often each intent_id appears across every CSV file of the sync."""
    seen: Counter = Counter()
    for path in output_files(settings, folder=folder):
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"intent_id": pa.string()}))
        seen.update(table.column("intent_id").to_pylist())
    return seen


def check_manifests(settings: Settings, folder: str = FOLDER) -> None:
    """Every data file has a manifest whose row count and sha256 match it; no temp files remain."""
    folder_path = settings.output_dir / folder
    assert not list(folder_path.glob(".*")), "temporary files left behind"
    for path in output_files(settings, folder=folder):
        manifest = json.loads(path.with_name(f"{path.stem}.manifest.json").read_text())
        assert manifest["file"] == path.name
        assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert manifest["rows"] == pacsv.read_csv(path).num_rows
        assert manifest["bytes"] == path.stat().st_size


def ledger(settings: Settings, sync: str = SYNC) -> list[dict[str, Any]]:
    with Warehouse(settings) as wh:
        return read_records(wh, sync)


def runs(settings: Settings, sync: str = SYNC) -> list[dict[str, Any]]:
    with Warehouse(settings) as wh:
        return wh.fetch_arrow("select * from ops.sync_runs where sync_name = ? order by started_at", [sync]).to_pylist()


def expected_ids(ids: range | list[int]) -> Counter:
    return Counter(f"int_{i:04d}" for i in ids)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on DuckDB and on PostgreSQL."""
    return request.getfixturevalue("duck_settings" if request.param == "duckdb" else "pg_settings")


# -- the core flow, on both warehouses ----------------------------------------------

def test_core_flow(wh_settings: Settings, tmp_path: Path) -> None:
    settings = wh_settings
    config = write_config(tmp_path / "defs")
    make_source(settings, range(10))

    # dry run: counts and a sample, nothing sent, nothing in the ledger but a run row
    dry = run_sync(config, settings=settings, dry_run=True)
    assert dry.status == "dry_run"
    assert (dry.rows_considered, dry.would_send, dry.sent) == (10, 10, 0)
    assert len(dry.sample) == 5 and set(dry.sample[0]) == {
        "intent_id", "customer_key", "email", "first_name", "scenario_id", "step", "cart_id", "cart_value",
        "product_ids", "due_at"}
    json.dumps(dry.as_metadata())
    assert output_files(settings) == []
    assert ledger(settings) == []
    assert [r["status"] for r in runs(settings)] == ["dry_run"]

    # first run: everything, in batches of 3 -> 4 files
    first = run_sync(config, settings=settings)
    assert first.status == "success"
    assert (first.rows_considered, first.sent, first.skipped_already_sent, first.failed, first.rejected) == (10, 10, 0, 0, 0)
    assert len(first.outputs) == 4 and all(Path(p).exists() for p in first.outputs)
    assert delivered_ids(settings) == expected_ids(range(10))
    check_manifests(settings)
    meta = first.as_metadata()
    assert json.loads(json.dumps(meta)) == meta
    assert meta["sent"] == 10 and meta["run_id"] == first.run_id

    records = ledger(settings)
    assert len(records) == 10
    assert {r["status"] for r in records} == {"sent"}
    r1 = next(r for r in records if r["record_key"] == "int_0001")
    assert (r1["customer_key"], r1["channel"], r1["scenario_id"]) == ("cust_1", "email", "abandoned_cart")
    assert r1["run_id"] == first.run_id and r1["batch_id"].startswith(first.run_id)
    assert r1["sent_at"] == r1["updated_at"] == r1["first_sent_at"] and r1["attempts"] == 1
    assert r1["row_hash"] is None  # kept for rejected rows only (see test_per_row_outcomes_are_recorded)

    # the CSV holds the values as sent (quoting, decimals, timestamps)
    rows = {r["intent_id"]: r for f in output_files(settings) for r in pacsv.read_csv(f).to_pylist()}
    assert rows["int_0001"]["first_name"] == 'Ada, "the" first'
    assert rows["int_0001"]["cart_value"] == pytest.approx(20.90)

    # rerun: nothing new, nothing written
    again = run_sync(config, settings=settings)
    assert (again.sent, again.skipped_already_sent, again.rows_considered, again.outputs) == (0, 10, 10, [])
    assert len(output_files(settings)) == 4
    dry = run_sync(config, settings=settings, dry_run=True)
    assert (dry.would_send, dry.skipped_already_sent, dry.sample) == (0, 10, [])

    # new rows: only those travel
    make_source(settings, [10, 11], replace=False)
    new = run_sync(config, settings=settings)
    assert (new.sent, new.skipped_already_sent) == (2, 10)
    assert delivered_ids(settings) == expected_ids(range(12))

    # --full resends everything explicitly; delivery history is kept
    full = run_sync(config, settings=settings, full=True)
    assert (full.sent, full.skipped_already_sent) == (12, 0)
    assert delivered_ids(settings) == expected_ids(range(12)) + expected_ids(range(12))
    r1_after = next(r for r in ledger(settings) if r["record_key"] == "int_0001")
    assert r1_after["attempts"] == 2 and r1_after["status"] == "sent"
    assert r1_after["first_sent_at"] == r1["first_sent_at"] and r1_after["sent_at"] > r1["sent_at"]
    check_manifests(settings)

    history = runs(settings)
    assert [r["status"] for r in history] == ["dry_run", "success", "success", "dry_run", "success", "success"]
    assert [r["sent"] for r in history] == [0, 10, 0, 0, 2, 12]
    assert history[-1]["full_refresh"] is True
    assert json.loads(history[1]["outputs"]) == first.outputs
    assert all(r["finished_at"] is not None and r["error"] is None for r in history)


def test_uses_passed_warehouse_and_no_stage_left(duck_settings: Settings, tmp_path: Path) -> None:
    config = write_config(tmp_path / "defs")
    make_source(duck_settings, range(4))
    with Warehouse(duck_settings) as wh:
        result = run_sync(config, wh)
        assert result.sent == 4
        tables = {r[0] for r in wh.fetchall("select table_name from information_schema.tables where table_schema = 'ops'")}
    # the ledger, the batches and this sync's snapshot (here: its outbox, empty in insert mode)
    assert tables == {"sync_runs", "sync_records", "sync_batches", f"sync_snapshot__{SYNC}"}


def test_one_run_at_a_time_in_a_process(duck_settings: Settings, tmp_path: Path) -> None:
    from syncs.engine import _thread_lock

    config = write_config(tmp_path / "defs")
    make_source(duck_settings, range(2))
    lock = _thread_lock(SYNC)
    with lock:  # another thread (e.g. an in-process Dagster executor) is running it
        with pytest.raises(SyncFailed, match="already running in this process"):
            run_sync(config, settings=duck_settings)
    assert run_sync(config, settings=duck_settings).sent == 2


@pytest.mark.postgres
def test_one_run_at_a_time_on_postgres(pg_settings: Settings, tmp_path: Path) -> None:
    from syncs.engine import _pg_lock_key

    config = write_config(tmp_path / "defs")
    make_source(pg_settings, range(2))
    with Warehouse(pg_settings) as other:  # another process running the same sync
        assert other.scalar("select pg_try_advisory_lock(?)", [_pg_lock_key(SYNC)])
        with pytest.raises(SyncFailed, match="already running"):
            run_sync(config, settings=pg_settings)
    assert run_sync(config, settings=pg_settings).sent == 2  # the lock went with the session


# -- column selection and ledger fields ------------------------------------------------

def test_fields_mapping_and_channel_column(duck_settings: Settings, tmp_path: Path) -> None:
    make_source(duck_settings, range(3))
    with Warehouse(duck_settings) as wh:
        wh.execute(f"create view syncs.sync_sms__cart as select intent_id, email as phone, 'sms' as channel from syncs.{MODEL}")
    config = write_config(tmp_path / "defs", "sms_cart", model="sync_sms__cart", channel="email",
                          fields={"id": "intent_id", "to": "phone"},
                          destination={"type": "file", "format": "jsonl"})
    result = run_sync(config, settings=duck_settings)
    assert result.sent == 3
    files = sorted((duck_settings.output_dir / "sms_cart").glob("*.jsonl"))
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(lines, key=lambda r: r["id"])[0] == {"id": "int_0000", "to": "p0@example.com"}
    records = ledger(duck_settings, "sms_cart")
    # the model's own channel column wins over the definition; no customer/scenario columns -> null
    assert {(r["channel"], r["customer_key"], r["scenario_id"]) for r in records} == {("sms", None, None)}


def test_parquet_format(duck_settings: Settings, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    make_source(duck_settings, range(5))
    config = write_config(tmp_path / "defs", destination={"type": "file", "format": "parquet", "folder": "pq"})
    run_sync(config, settings=duck_settings)
    files = sorted((duck_settings.output_dir / "pq").glob("*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files])
    assert sorted(table.column("intent_id").to_pylist()) == sorted(expected_ids(range(5)))
    assert table.schema.field("cart_value").type == pa.decimal128(18, 2)


# -- failures are loud -------------------------------------------------------------------

def test_missing_model_fails_clearly(duck_settings: Settings, tmp_path: Path) -> None:
    config = write_config(tmp_path / "defs")
    with pytest.raises(SyncFailed, match=r"model syncs\.sync_file__abandoned_cart_intents does not exist") as info:
        run_sync(config, settings=duck_settings)
    assert info.value.result.status == "failed"
    assert [r["status"] for r in runs(duck_settings)] == ["failed"]


def test_missing_column_fails_clearly(duck_settings: Settings, tmp_path: Path) -> None:
    make_source(duck_settings, range(2))
    config = write_config(tmp_path / "defs", fields=["intent_id", "phone"])
    with pytest.raises(SyncFailed, match=r"columns \['phone'\] are not in model"):
        run_sync(config, settings=duck_settings)


def test_null_key_rows_fail_the_run_but_others_are_sent(duck_settings: Settings, tmp_path: Path) -> None:
    make_source(duck_settings, range(4))
    with Warehouse(duck_settings) as wh:
        wh.execute(f"insert into syncs.{MODEL} (intent_id, email) values (null, 'x@example.com')")
    config = write_config(tmp_path / "defs")
    with pytest.raises(SyncFailed, match="null 'intent_id'") as info:
        run_sync(config, settings=duck_settings)
    assert (info.value.result.sent, info.value.result.rejected) == (4, 1)
    assert delivered_ids(duck_settings) == expected_ids(range(4))


def test_duplicate_keys_fail_clearly(duck_settings: Settings, tmp_path: Path) -> None:
    make_source(duck_settings, [1, 1, 2])
    config = write_config(tmp_path / "defs", batch_size=10)
    with pytest.raises(SyncFailed, match="primary key is not unique.*int_0001"):
        run_sync(config, settings=duck_settings)
    assert output_files(duck_settings) == []  # nothing handed over


class FlakyDestination(Destination):
    """Test destination: rejects keys listed in ``reject``, fails keys in ``fail``,
    raises on batches in ``explode``; remembers what it was sent."""

    type_name: ClassVar[str] = "flaky"
    reject: ClassVar[set[str]] = set()
    fail: ClassVar[set[str]] = set()
    explode: ClassVar[bool] = False
    received: ClassVar[list[str]] = []

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.explode:
            raise ConnectionError("endpoint down")
        keys = batch.keys.to_pylist()
        outcomes = [(k, "rejected", 422, "invalid address", None) for k in keys if k in self.reject]
        outcomes += [(k, "failed", 503, "try later", None) for k in keys if k in self.fail]
        outcomes += [(k, "sent", 202, None, f"msg-{k}") for k in keys if k not in self.reject | self.fail]
        type(self).received.extend(k for k in keys if k not in self.reject | self.fail)
        table = pa.table(list(zip(*outcomes)), schema=dest_base.ROW_OUTCOME_SCHEMA)
        return BatchOutcome(outputs=[f"flaky://{batch.batch_id}"], row_outcomes=table)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[FlakyDestination]:
    monkeypatch.setitem(dest_base.DESTINATION_TYPES, "flaky", f"{__name__}:FlakyDestination")
    monkeypatch.setattr(FlakyDestination, "reject", set())
    monkeypatch.setattr(FlakyDestination, "fail", set())
    monkeypatch.setattr(FlakyDestination, "explode", False)
    monkeypatch.setattr(FlakyDestination, "received", [])
    return FlakyDestination


def test_per_row_outcomes_are_recorded(duck_settings: Settings, tmp_path: Path, flaky: type[FlakyDestination]) -> None:
    make_source(duck_settings, range(6))
    config = write_config(tmp_path / "defs", destination={"type": "flaky"})
    flaky.reject, flaky.fail = {"int_0001"}, {"int_0002"}
    with pytest.raises(SyncFailed, match="1 record\\(s\\) rejected, 1 failed") as info:
        run_sync(config, settings=duck_settings)
    assert (info.value.result.sent, info.value.result.rejected, info.value.result.failed) == (4, 1, 1)
    by_key = {r["record_key"]: r for r in ledger(duck_settings)}
    assert (by_key["int_0001"]["status"], by_key["int_0001"]["status_code"], by_key["int_0001"]["reason"]) == (
        "rejected", 422, "invalid address")
    assert by_key["int_0002"]["status"] == "failed" and by_key["int_0002"]["sent_at"] is None
    # the refused payload's hash (DuckDB's 64-bit hash() as text; md5 on PostgreSQL): retried once it changes
    assert 0 <= int(by_key["int_0001"]["row_hash"]) < 2**64 and by_key["int_0000"]["row_hash"] is None
    assert by_key["int_0000"]["destination_message_id"] == "msg-int_0000"
    assert [r["status"] for r in runs(duck_settings)] == ["failed"]

    # next run: the failed row is retried, the rejected one is not (unchanged) ...
    flaky.reject, flaky.fail, flaky.received = set(), set(), []
    result = run_sync(config, settings=duck_settings)
    assert (result.sent, result.skipped_already_sent, result.skipped_rejected) == (1, 4, 1)
    assert flaky.received == ["int_0002"]
    # ... until it changes
    with Warehouse(duck_settings) as wh:
        wh.execute(f"update syncs.{MODEL} set email = 'fixed@example.com' where intent_id = 'int_0001'")
    assert run_sync(config, settings=duck_settings).sent == 1
    assert flaky.received == ["int_0002", "int_0001"]


def test_destination_error_marks_batch_failed_and_rerun_delivers(
    duck_settings: Settings, tmp_path: Path, flaky: type[FlakyDestination]
) -> None:
    make_source(duck_settings, range(5))
    config = write_config(tmp_path / "defs", destination={"type": "flaky"})
    flaky.explode = True
    with pytest.raises(SyncFailed, match="endpoint down"):
        run_sync(config, settings=duck_settings)
    records = ledger(duck_settings)
    # the first batch was handed over and failed; the run stopped there
    assert [r["status"] for r in records] == ["failed"] * 3
    flaky.explode = False
    result = run_sync(config, settings=duck_settings)
    assert result.sent == 5 and sorted(flaky.received) == sorted(expected_ids(range(5)))


# -- the CLI ------------------------------------------------------------------------------

def _args(name: str | None = None, **flags: bool) -> argparse.Namespace:
    return argparse.Namespace(name=name, all=flags.get("all", False), dry_run=flags.get("dry_run", False),
                              full=flags.get("full", False))


def test_cli(duck_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> None:
    from kairos.cli import main as kairos_main
    from syncs.cli import main

    defs = tmp_path / "defs"
    write_config(defs)
    write_config(defs, "test_broken", model="sync_missing_model")
    monkeypatch.setenv("KAIROS_SYNCS_DIR", str(defs))
    make_source(duck_settings, range(4))

    assert main(_args("nope")) == 2
    err = capsys.readouterr().err
    assert "unknown sync 'nope'" in err and "test_broken, test_cart_file" in err
    assert main(_args()) == 2

    assert main(_args(SYNC, dry_run=True)) == 0
    out = capsys.readouterr().out
    assert f"{SYNC}" in out and "dry_run" in out and "would_send=4" in out and "int_0000" in out

    assert kairos_main(["sync", SYNC]) == 0  # the real `kairos sync` wiring
    assert "sent=4" in capsys.readouterr().out

    assert main(_args(all=True, full=True)) == 1  # one sync fails: non-zero, the other still runs
    out = capsys.readouterr().out
    assert "test_broken" in out and "failed" in out and "does not exist" in out
    assert f"{SYNC}" in out and "sent=4" in out


@pytest.mark.parametrize("commit_rows", [2, 100_000], ids=["across_groups", "within_a_group"])
def test_duplicate_keys_across_batches_fail_before_resending(commit_rows: int, duck_settings: Settings,
                                                              tmp_path: Path) -> None:
    make_source(duck_settings, [1, 2, 3, 4, 1])
    config = write_config(tmp_path / "defs", batch_size=2, commit_rows=commit_rows)
    with pytest.raises(SyncFailed, match="primary key is not unique.*int_0001"):
        run_sync(config, settings=duck_settings)
    assert all(n == 1 for n in delivered_ids(duck_settings).values())


def test_commit_groups_hold_exactly_commit_rows_rows(duck_settings: Settings, tmp_path: Path) -> None:
    """A commit group is cut at commit_rows rows even inside a batch (the batch is
    split), so groups of the default size fill whole DuckDB row groups; every row
    still travels once, in batches of at most batch_size rows."""
    make_source(duck_settings, range(12))
    config = write_config(tmp_path / "defs", batch_size=3, commit_rows=5)
    result = run_sync(config, settings=duck_settings)
    assert (result.status, result.sent) == ("success", 12)
    assert delivered_ids(duck_settings) == expected_ids(range(12))
    with Warehouse(duck_settings) as wh:
        groups = wh.fetchall("select commit_seq, sum(rows), max(rows) from ops.sync_batches "
                             "where sync_name = ? group by commit_seq order by commit_seq", [SYNC])
    assert [int(g[1]) for g in groups] == [5, 5, 2]
    assert all(int(g[2]) <= 3 for g in groups)


def test_unreachable_warehouse_is_a_sync_failure(duck_settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    config = write_config(tmp_path / "defs")
    bad = replace(duck_settings, target="postgres", pg_port=1)  # nothing listens there
    with pytest.raises(SyncFailed, match="OperationalError") as info:
        run_sync(config, settings=bad)
    assert info.value.result.status == "failed"
