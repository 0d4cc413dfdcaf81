"""Upsert and mirror modes: change detection against the snapshot, removals,
rejections, schema changes, concurrency, progress and alerts, on DuckDB and
PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from syncs.ledger import read_records, read_snapshot

MODEL = "sync_file__audience"
SYNC = "test_audience"

DDL = f"create table syncs.{MODEL} (customer_key varchar, email varchar, segment varchar, score integer)"


def member(i: int, **over: Any) -> tuple:
    row = {"customer_key": f"c{i:03d}", "email": f"p{i}@example.com", "segment": "vip" if i % 2 else "std",
           "score": i}
    row.update(over)
    return tuple(row.values())


def make_audience(settings: Settings, ids: list[int] | range) -> None:
    with Warehouse(settings) as wh:
        wh.ensure_schema("syncs")
        wh.execute(f"drop table if exists syncs.{MODEL}")
        wh.execute(DDL)
        wh.executemany(f"insert into syncs.{MODEL} values (?, ?, ?, ?)", [member(i) for i in ids])


def sql(settings: Settings, statement: str, params: list | None = None) -> None:
    with Warehouse(settings) as wh:
        wh.execute(statement, params)


def write_config(directory: Path, name: str = SYNC, **over: Any) -> SyncConfig:
    body: dict[str, Any] = {
        "description": "test audience",
        "model": MODEL,
        "mode": "mirror",
        "primary_key": "customer_key",
        "channel": "ads",
        "batch_size": 4,
        "destination": {"type": "file", "format": "csv", "folder": "audience"},
    }
    body.update(over)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yml").write_text(yaml.safe_dump(body, sort_keys=False))
    return load_sync_configs(directory)[name]


def batch_files(settings: Settings, folder: str = "audience") -> list[Path]:
    """Data files in batch order (run id, then sequence number)."""
    return sorted(p for p in (settings.output_dir / folder).glob("*.csv"))


def apply_files(settings: Settings, files: list[Path] | None = None, folder: str = "audience"
                ) -> tuple[dict[str, dict], Counter]:
    """Replay the batch files like an importer: upserts then removals in batch order.
    Returns the resulting list and how often each key was applied."""
    state: dict[str, dict] = {}
    applied: Counter = Counter()
    for path in files if files is not None else batch_files(settings, folder):
        manifest = json.loads(path.with_name(f"{path.stem}.manifest.json").read_text())
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"customer_key": pa.string(), "email": pa.string(), "segment": pa.string()}))
        for row in table.to_pylist():
            applied[row["customer_key"]] += 1
            if manifest["operation"] == "delete":
                assert path.name.endswith(".delete.csv")
                state.pop(row["customer_key"], None)
            else:
                assert manifest["operation"] == "upsert"
                state[row["customer_key"]] = row
    return state, applied


def model_rows(settings: Settings) -> dict[str, dict]:
    with Warehouse(settings) as wh:
        rows = wh.fetch_arrow(f"select * from syncs.{MODEL}").to_pylist()
    return {r["customer_key"]: r for r in rows}


def ledger(settings: Settings, sync: str = SYNC) -> dict[str, dict]:
    with Warehouse(settings) as wh:
        # the payload column customer_key is the model's customer key (the snapshot keeps it there)
        return {r["record_key"]: r for r in read_records(wh, sync, customer_column="customer_key")}


def snapshot(settings: Settings, sync: str = SYNC, **kw: Any) -> dict[str, dict]:
    with Warehouse(settings) as wh:
        return {r["_kairos_record_key"]: r for r in read_snapshot(wh, sync, **kw)}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh_settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue("duck_settings" if request.param == "duckdb" else "pg_settings")


# -- mirror: adds, changes, removals, nothing ------------------------------------------

def test_mirror_flow(wh_settings: Settings, tmp_path: Path) -> None:
    settings = wh_settings
    config = write_config(tmp_path / "defs")
    make_audience(settings, range(10))

    # a dry run before anything was sent: all added, nothing created
    dry = run_sync(config, settings=settings, dry_run=True)
    assert (dry.rows_considered, dry.added, dry.changed, dry.removed, dry.would_send) == (10, 10, 0, 0, 10)
    assert dry.sample and {s["_change"] for s in dry.sample} == {"added"}
    assert set(dry.sample[0]) == {"customer_key", "email", "segment", "score", "_change"}
    assert batch_files(settings) == []

    first = run_sync(config, settings=settings)
    assert (first.status, first.sent, first.added, first.changed, first.removed) == ("success", 10, 10, 0, 0)
    assert len(batch_files(settings)) == 3  # batches of 4
    state, applied = apply_files(settings)
    assert state == model_rows(settings) and set(applied.values()) == {1}
    assert set(snapshot(settings)) == set(model_rows(settings))

    # nothing changed: nothing travels, no file
    again = run_sync(config, settings=settings)
    assert (again.sent, again.skipped_already_sent, again.outputs) == (0, 10, [])
    assert len(batch_files(settings)) == 3

    # one change, one new member, two removed
    sql(settings, f"update syncs.{MODEL} set email = 'new@example.com' where customer_key = 'c003'")
    sql(settings, f"insert into syncs.{MODEL} values (?, ?, ?, ?)", list(member(42)))
    sql(settings, f"delete from syncs.{MODEL} where customer_key in ('c005', 'c007')")
    before = batch_files(settings)
    dry = run_sync(config, settings=settings, dry_run=True)
    assert (dry.added, dry.changed, dry.removed, dry.skipped_already_sent, dry.would_send) == (1, 1, 2, 7, 4)
    assert Counter(s["_change"] for s in dry.sample) == Counter({"added": 1, "changed": 1, "removed": 2})
    delta = run_sync(config, settings=settings)
    assert (delta.sent, delta.added, delta.changed, delta.removed, delta.skipped_already_sent) == (4, 1, 1, 2, 7)
    new_files = [p for p in batch_files(settings) if p not in before]
    assert sorted(p.name.endswith(".delete.csv") for p in new_files) == [False, True]
    removed_file = next(p for p in new_files if p.name.endswith(".delete.csv"))
    # removals carry the payload as it was delivered (an importer needs the identifiers)
    removed_rows = {r["customer_key"]: r for r in pacsv.read_csv(removed_file).to_pylist()}
    assert removed_rows["c005"]["email"] == "p5@example.com"
    _, delta_applied = apply_files(settings, new_files)
    assert delta_applied == Counter({"c003": 1, "c042": 1, "c005": 1, "c007": 1})
    state, _ = apply_files(settings)
    assert state == model_rows(settings)

    # the snapshot is the destination's list: removed rows are tombstones
    snap = snapshot(settings)
    assert set(snap) == set(model_rows(settings)) and snap["c003"]["email"] == "new@example.com"
    tombs = {k for k, r in snapshot(settings, include_deleted=True).items() if r["_kairos_op"] == "delete"}
    assert tombs == {"c005", "c007"}
    records = ledger(settings)
    assert records["c005"]["operation"] == "delete" and records["c005"]["status"] == "sent"
    assert records["c005"]["customer_key"] == "c005"  # (the snapshot keeps it once, in the payload)
    # clean deliveries of an audience live in the snapshot: the ledger read gives each
    # record's latest delivery (its run and batch), without an attempt count
    assert records["c003"]["run_id"] == delta.run_id and records["c001"]["run_id"] == first.run_id
    assert records["c003"]["sent_at"] is not None and records["c003"]["attempts"] is None

    # a removed member comes back: added again (the tombstone is replaced)
    sql(settings, f"insert into syncs.{MODEL} values (?, ?, ?, ?)", list(member(5)))
    back = run_sync(config, settings=settings)
    assert (back.sent, back.added, back.removed) == (1, 1, 0)
    assert "c005" in snapshot(settings)
    assert run_sync(config, settings=settings).sent == 0

    # --full resends everything explicitly (rows as upserts, no removals left)
    full = run_sync(config, settings=settings, full=True)
    assert (full.sent, full.skipped_already_sent) == (len(model_rows(settings)), 0)
    state, _ = apply_files(settings)
    assert state == model_rows(settings)
    with Warehouse(settings) as wh:
        history = wh.fetchall("select status, added, changed, removed from ops.sync_runs where sync_name = ? "
                              "order by started_at", [SYNC])
    assert [h[0] for h in history] == ["dry_run", "success", "success", "dry_run", "success", "success", "success",
                                       "success"]
    assert history[4][1:] == (1, 1, 2)


def test_upsert_never_removes(duck_settings: Settings, tmp_path: Path) -> None:
    config = write_config(tmp_path / "defs", mode="upsert", destination={"type": "file", "format": "jsonl"})
    make_audience(duck_settings, range(6))
    assert run_sync(config, settings=duck_settings).sent == 6
    sql(duck_settings, f"delete from syncs.{MODEL} where customer_key = 'c001'")
    sql(duck_settings, f"update syncs.{MODEL} set score = 99 where customer_key = 'c002'")
    result = run_sync(config, settings=duck_settings)
    assert (result.sent, result.changed, result.removed) == (1, 1, 0)
    files = sorted((duck_settings.output_dir / SYNC).glob("*.jsonl"))
    last = [json.loads(line) for line in files[-1].read_text().splitlines()]
    assert last == [{"customer_key": "c002", "email": "p2@example.com", "segment": "std", "score": 99}]
    assert "c001" in snapshot(duck_settings)  # upsert keeps what the destination has


def test_changed_fields_resend_every_row(duck_settings: Settings, tmp_path: Path) -> None:
    """A new column in the field list (or a new type) changes every row's hash."""
    make_audience(duck_settings, range(5))
    config = write_config(tmp_path / "defs", fields=["customer_key", "email"])
    assert run_sync(config, settings=duck_settings).sent == 5
    assert run_sync(config, settings=duck_settings).sent == 0
    config = write_config(tmp_path / "defs", fields=["customer_key", "email", "score"])
    result = run_sync(config, settings=duck_settings)
    assert (result.sent, result.changed) == (5, 5)
    assert snapshot(duck_settings)["c003"]["score"] == 3
    sql(duck_settings, f"alter table syncs.{MODEL} alter score type bigint")
    assert run_sync(config, settings=duck_settings).changed == 5
    # removals still carry the payload after the column changes
    sql(duck_settings, f"delete from syncs.{MODEL} where customer_key = 'c004'")
    gone = run_sync(config, settings=duck_settings)
    assert gone.removed == 1


# -- per-row outcomes ------------------------------------------------------------------------

class ScriptedDestination(Destination):
    """Test destination: rejects / fails the keys listed, records what it received (thread-safe)."""

    type_name: ClassVar[str] = "scripted"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})
    reject: ClassVar[set[str]] = set()
    fail: ClassVar[set[str]] = set()
    received: ClassVar[list[tuple[str, str]]] = []
    threads: ClassVar[set[str]] = set()
    delay: ClassVar[float] = 0.0
    lock = threading.Lock()

    def send_batch(self, batch: Batch) -> BatchOutcome:
        if self.delay:
            time.sleep(self.delay)
        keys = batch.keys.to_pylist()
        rows = []
        with self.lock:
            type(self).threads.add(threading.current_thread().name)
            for k in keys:
                if k in self.reject:
                    rows.append((k, "rejected", 422, "invalid address", None))
                elif k in self.fail:
                    rows.append((k, "failed", 503, "try later", None))
                else:
                    type(self).received.append((batch.operation, k))
        table = pa.table(list(zip(*rows)), schema=dest_base.ROW_OUTCOME_SCHEMA) if rows else None
        return BatchOutcome(outputs=["scripted://"], row_outcomes=table)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type[ScriptedDestination]:
    monkeypatch.setitem(dest_base.DESTINATION_TYPES, "scripted", f"{__name__}:ScriptedDestination")
    for attr, value in {"reject": set(), "fail": set(), "received": [], "threads": set(), "delay": 0.0}.items():
        monkeypatch.setattr(ScriptedDestination, attr, value)
    return ScriptedDestination


def test_rejected_and_failed_rows_in_upsert(wh_settings: Settings, tmp_path: Path,
                                            scripted: type[ScriptedDestination]) -> None:
    settings = wh_settings
    make_audience(settings, range(40))
    config = write_config(tmp_path / "defs", mode="upsert", destination={"type": "scripted"},
                          alert_rejection_rate=0.1)
    scripted.reject, scripted.fail = {"c001"}, {"c002"}
    with pytest.raises(SyncFailed, match=r"1 record\(s\) rejected, 1 failed") as info:
        run_sync(config, settings=settings)
    assert (info.value.result.sent, info.value.result.rejected, info.value.result.failed) == (38, 1, 1)
    assert info.value.result.alert is None  # 1 of 40 is under the 10% threshold
    records = ledger(settings)
    assert (records["c001"]["status"], records["c001"]["status_code"], records["c001"]["reason"]) == (
        "rejected", 422, "invalid address")
    assert records["c002"]["status"] == "failed"
    assert {"c001", "c002"}.isdisjoint(snapshot(settings))  # the destination does not hold them

    # next run: the failed row travels again, the rejected one not (unchanged); under
    # the alert threshold a rejection does not fail the run
    scripted.fail, scripted.received = set(), []
    result = run_sync(config, settings=settings)
    assert (result.status, result.sent, result.skipped_rejected) == ("success", 1, 1)
    assert scripted.received == [("upsert", "c002")]
    # ... until it changes
    sql(settings, f"update syncs.{MODEL} set email = 'fixed@example.com' where customer_key = 'c001'")
    scripted.reject = set()
    assert run_sync(config, settings=settings).sent == 1
    assert ledger(settings)["c001"]["status"] == "sent"


def test_audience_ledger_rows_only_for_records_that_need_a_note(wh_settings: Settings, tmp_path: Path,
                                                                 scripted: type[ScriptedDestination]) -> None:
    """Clean deliveries of an audience are not written twice (snapshot and
    sync_records); a refusal gets a row, which then follows the record."""
    settings = wh_settings

    def stored() -> dict[str, str]:
        with Warehouse(settings) as wh:
            return dict(wh.fetchall("select record_key, status from ops.sync_records where sync_name = ?", [SYNC]))

    make_audience(settings, range(6))
    config = write_config(tmp_path / "defs", destination={"type": "scripted"}, batch_size=2,
                          alert_rejection_rate=0.5)
    scripted.reject = {"c002"}
    first = run_sync(config, settings=settings)
    assert (first.sent, first.rejected) == (5, 1)
    assert stored() == {"c002": "rejected"}
    records = ledger(settings)
    assert {k: r["status"] for k, r in records.items()} == {
        "c000": "sent", "c001": "sent", "c002": "rejected", "c003": "sent", "c004": "sent", "c005": "sent"}
    assert records["c002"]["status_code"] == 422 and records["c002"]["reason"] == "invalid address"
    assert {r["run_id"] for r in records.values()} == {first.run_id}

    # the refused record changes and arrives: its row follows it; a removal stays clean
    sql(settings, f"update syncs.{MODEL} set email = 'ok@example.com' where customer_key = 'c002'")
    sql(settings, f"delete from syncs.{MODEL} where customer_key = 'c005'")
    scripted.reject = set()
    second = run_sync(config, settings=settings)
    assert (second.sent, second.added, second.removed) == (2, 1, 1)  # c002 never arrived: added
    assert stored() == {"c002": "sent"}
    records = ledger(settings)
    assert records["c002"]["attempts"] == 2 and records["c002"]["reason"] is None
    assert (records["c005"]["operation"], records["c005"]["run_id"]) == ("delete", second.run_id)


def test_failed_change_keeps_the_old_version(duck_settings: Settings, tmp_path: Path,
                                             scripted: type[ScriptedDestination]) -> None:
    make_audience(duck_settings, range(4))
    config = write_config(tmp_path / "defs", destination={"type": "scripted"})
    run_sync(config, settings=duck_settings)
    sql(duck_settings, f"update syncs.{MODEL} set email = 'changed@example.com' where customer_key = 'c001'")
    scripted.fail = {"c001"}
    with pytest.raises(SyncFailed):
        run_sync(config, settings=duck_settings)
    assert snapshot(duck_settings)["c001"]["email"] == "p1@example.com"
    record = ledger(duck_settings)["c001"]
    assert record["status"] == "failed" and record["sent_at"] is not None  # delivered once before
    scripted.fail, scripted.received = set(), []
    assert run_sync(config, settings=duck_settings).sent == 1
    assert snapshot(duck_settings)["c001"]["email"] == "changed@example.com"


# -- concurrency, progress, alerts ------------------------------------------------------------

def test_concurrent_batches_keep_the_ledger_right(duck_settings: Settings, tmp_path: Path,
                                                  scripted: type[ScriptedDestination]) -> None:
    make_audience(duck_settings, range(200))
    config = write_config(tmp_path / "defs", destination={"type": "scripted"}, batch_size=5, concurrency=4,
                          commit_rows=40)
    scripted.delay = 0.01
    scripted.reject = {"c010", "c150"}
    lines: list[str] = []
    import syncs.engine as engine

    old = engine.PROGRESS_EVERY_S
    engine.PROGRESS_EVERY_S = 0.05
    try:
        result = run_sync(config, settings=duck_settings, progress=lambda p: lines.append(p.line()))
    finally:
        engine.PROGRESS_EVERY_S = old
    assert (result.status, result.sent, result.rejected, result.batches, result.concurrency) == (
        "success", 198, 2, 40, 4)
    assert len(scripted.threads) > 1  # batches really went out in parallel
    assert Counter(k for _, k in scripted.received) == Counter(f"c{i:03d}" for i in range(200)
                                                               if i not in (10, 150))
    records = ledger(duck_settings)
    assert len(records) == 200
    assert Counter(r["status"] for r in records.values()) == Counter({"sent": 198, "rejected": 2})
    assert len(snapshot(duck_settings)) == 198
    assert lines and "rows/s" in lines[-1] and "sent=" in lines[-1]
    meta = result.as_metadata()
    assert meta["rows_per_second"] > 0 and meta["batches"] == 40 and meta["rejection_rate"] == 0.01
    assert run_sync(config, settings=duck_settings).sent == 0


def test_progress_line_on_stderr(duck_settings: Settings, tmp_path: Path, scripted: type[ScriptedDestination],
                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import syncs.engine as engine

    monkeypatch.setattr(engine, "PROGRESS_EVERY_S", 0.02)
    make_audience(duck_settings, range(30))
    scripted.delay = 0.02
    config = write_config(tmp_path / "defs", destination={"type": "scripted"}, batch_size=2)
    run_sync(config, settings=duck_settings, progress=True)
    err = capsys.readouterr().err
    assert f"sync {SYNC}:" in err and "rows/s" in err and "rejected=0" in err


class AlertReceiver:
    """A local HTTP server that records the JSON documents posted to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alert"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_rejection_rate_alert(duck_settings: Settings, tmp_path: Path, scripted: type[ScriptedDestination],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = AlertReceiver()
    monkeypatch.setenv("KAIROS_ALERT_WEBHOOK_URL", receiver.url)
    try:
        make_audience(duck_settings, range(20))
        config = write_config(tmp_path / "defs", destination={"type": "scripted"}, alert_rejection_rate=0.1)
        scripted.reject = {"c001", "c002", "c003"}  # 15% > 10%
        with pytest.raises(SyncFailed, match="above alert_rejection_rate") as info:
            run_sync(config, settings=duck_settings)
        result = info.value.result
        assert result.alert and "3 of 20 rows rejected" in result.alert
        assert result.rejection_rate == 0.15
        [alert] = receiver.received
        assert alert["sync"] == SYNC and alert["rejected"] == 3 and alert["threshold"] == 0.1
        assert alert["top_reasons"] == [{"reason": "invalid address", "status_code": 422, "rows": 3}]
        assert "rejected" in alert["text"]
        with Warehouse(duck_settings) as wh:
            assert wh.scalar("select alert from ops.sync_runs where run_id = ?", [result.run_id]) == result.alert
    finally:
        receiver.close()


def test_alert_without_webhook_only_marks_the_result(duck_settings: Settings, tmp_path: Path,
                                                     scripted: type[ScriptedDestination],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAIROS_ALERT_WEBHOOK_URL", raising=False)
    make_audience(duck_settings, range(4))
    config = write_config(tmp_path / "defs", destination={"type": "scripted"})
    scripted.reject = {"c001"}
    with pytest.raises(SyncFailed) as info:
        run_sync(config, settings=duck_settings)
    assert info.value.result.alert and info.value.result.status == "failed"


# -- the CLI ------------------------------------------------------------------------------------

def test_cli_dry_run_shows_changes(duck_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from syncs.cli import main

    defs = tmp_path / "defs"
    write_config(defs)
    monkeypatch.setenv("KAIROS_SYNCS_DIR", str(defs))
    make_audience(duck_settings, range(3))
    assert main([SYNC]) == 0
    sql(duck_settings, f"delete from syncs.{MODEL} where customer_key = 'c001'")
    capsys.readouterr()
    assert main([SYNC, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry_run" in out and "removed=1" in out and '"_change": "removed"' in out
    assert main(["--all"]) == 0
    assert "removed=1" in capsys.readouterr().out


def test_rate_limit_through_the_webhook(duck_settings: Settings, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``rate_limit_per_second`` reaches the API destination's token bucket, shared by the
    engine's sender threads; the receiver sees each batch once, under its Idempotency-Key."""
    from fakes.webhook import FakeWebhook

    monkeypatch.setenv("KAIROS_TEST_HOOK_SECRET", "s3cret")
    make_audience(duck_settings, range(20))
    with FakeWebhook(secret=b"s3cret") as receiver:
        config = write_config(tmp_path / "defs", batch_size=2, concurrency=4, rate_limit_per_second=20,
                              destination={"type": "webhook", "url": f"{receiver.url}/hook",
                                           "secret_env": "KAIROS_TEST_HOOK_SECRET", "rate_limit_burst": 1})
        assert config.destination.options["rate_limit_per_second"] == 20
        started = time.perf_counter()
        result = run_sync(config, settings=duck_settings)
        elapsed = time.perf_counter() - started
    assert (result.sent, result.batches, result.concurrency) == (20, 10, 4)
    assert elapsed >= 0.4  # 10 requests at 20/s with a burst of 1
    assert len(receiver.delivered) == 10 and receiver.duplicates == 0
    times = sorted(r.at for r in receiver.requests)
    assert times[-1] - times[0] >= 0.4
