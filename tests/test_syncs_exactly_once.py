"""Exactly-once effect for files: kill the sync process (SIGKILL) at each step
of the batch protocol, rerun, and check every record landed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kairos.settings import PROJECT_ROOT, Settings
from syncs.destinations.base import FAULT_ENV
from syncs.engine import run_sync
from test_syncs_engine import (
    SYNC,
    check_manifests,
    delivered_ids,
    expected_ids,
    ledger,
    make_source,
    output_files,
    runs,
    write_config,
)

CHILD = """
import sys
from syncs.config import load_sync_configs
from syncs.engine import run_sync
run_sync(load_sync_configs(sys.argv[1])[sys.argv[2]])
"""


def start_child(defs: Path, fault: str | None = None) -> subprocess.Popen:
    """The sync in a separate process, with the test's environment (warehouse, output folder)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-c", CHILD, str(defs), SYNC], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def assert_exactly_once(settings: Settings, ids: range) -> None:
    assert delivered_ids(settings) == expected_ids(ids)  # nothing lost, nothing twice
    check_manifests(settings)
    records = ledger(settings)
    assert len(records) == len(ids) and {r["status"] for r in records} == {"sent"}


# step -> rows the rerun finds already delivered when the child dies in batch 2,
# with one batch per ledger commit group (commit_rows: 3) ...
STEPS = {
    "after_pending": 0,  # outbox written, batch pending, nothing delivered: redelivered under its id
    "before_replace": 0,  # temp file written, not renamed: dropped and redelivered
    "after_replace": 3,  # data file in place, no manifest yet: recovered, manifest rebuilt
    "after_send": 3,  # delivered, ledger still 'pending': recovered, not rewritten
    "after_mark": 0,  # batch fully recorded: nothing to recover
}
# ... and with the default commit group (all 4 batches pending together; batch 1
# of the group delivered before batch 2)
STEPS_GROUPED = {
    "after_pending": 0,
    "before_replace": 3,
    "after_replace": 6,
    "after_send": 6,
    "after_mark": 0,  # the whole group is recorded: nothing to recover
}


@pytest.mark.parametrize("grouped", [False, True], ids=["per_batch", "grouped"])
@pytest.mark.parametrize("step", list(STEPS))
def test_kill_at_each_step_then_rerun(step: str, grouped: bool, duck_settings: Settings, tmp_path: Path) -> None:
    defs = tmp_path / "defs"
    config = write_config(defs, **({} if grouped else {"commit_rows": 3}))  # batches of 3
    make_source(duck_settings, range(10))  # -> 4 batches; the child dies in batch 2

    child = start_child(defs, fault=f"{step}:2")
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err.decode()

    files_before = {p.name: p.stat().st_mtime_ns for p in output_files(duck_settings)}
    assert [r["status"] for r in runs(duck_settings)] == ["running"]

    result = run_sync(config, settings=duck_settings)
    assert result.status == "success"
    assert result.recovered == (STEPS_GROUPED if grouped else STEPS)[step]
    assert_exactly_once(duck_settings, range(10))
    # files of the dead run are kept as they were, never rewritten
    after = {p.name: p.stat().st_mtime_ns for p in output_files(duck_settings)}
    assert all(after[name] == mtime for name, mtime in files_before.items())
    assert [r["status"] for r in runs(duck_settings)] == ["interrupted", "success"]

    # and a third run has nothing left to do
    assert run_sync(config, settings=duck_settings).sent == 0


def test_sigkill_from_outside_mid_run(duck_settings: Settings, tmp_path: Path) -> None:
    """A real kill at an arbitrary moment while batches are flowing."""
    defs = tmp_path / "defs"
    config = write_config(defs, batch_size=2)
    make_source(duck_settings, range(300))  # 150 batches, each with its own file and fsync

    child = start_child(defs)
    deadline = time.monotonic() + 60
    while len(output_files(duck_settings)) < 5 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    assert 5 <= len(output_files(duck_settings)) < 150

    result = run_sync(config, settings=duck_settings)
    assert result.status == "success"
    assert result.sent + result.skipped_already_sent == 300  # recovered rows count as already sent
    assert_exactly_once(duck_settings, range(300))


@pytest.mark.postgres
def test_kill_then_rerun_on_postgres(pg_settings: Settings, tmp_path: Path) -> None:
    """Same protocol on PostgreSQL; the advisory lock dies with the killed session."""
    defs = tmp_path / "defs"
    config = write_config(defs)
    make_source(pg_settings, range(10))

    child = start_child(defs, fault="after_send:3")
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL

    result = run_sync(config, settings=pg_settings)
    assert result.recovered == 9  # one commit group: batches 1-3 delivered, batch 4 redelivered
    assert result.redelivered == 1
    assert_exactly_once(pg_settings, range(10))


# -- upsert / mirror, and an API destination ------------------------------------------------

CHILD_NAMED = """
import sys
from syncs.config import load_sync_configs
from syncs.engine import run_sync
run_sync(load_sync_configs(sys.argv[1])[sys.argv[2]])
"""


def start_named_child(defs: Path, name: str, fault: str | None = None, env: dict | None = None) -> subprocess.Popen:
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), child_env.get("PYTHONPATH")]))
    child_env.pop(FAULT_ENV, None)
    child_env.update(env or {})
    if fault:
        child_env[FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-c", CHILD_NAMED, str(defs), name], env=child_env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("fault", ["after_pending:2", "after_send:3", "after_replace:5"])
def test_kill_mirror_delta_then_rerun(backend: str, fault: str, request: pytest.FixtureRequest,
                                      tmp_path: Path) -> None:
    """Kill a mirror-mode run mid-delta (changes, additions, removals), rerun: the
    destination ends up equal to the model and every delta row arrived once."""
    from test_syncs_modes import SYNC as AUDIENCE, apply_files, batch_files, make_audience, model_rows, sql
    from test_syncs_modes import write_config as write_audience

    settings = request.getfixturevalue("duck_settings" if backend == "duckdb" else "pg_settings")
    defs = tmp_path / "defs"
    config = write_audience(defs, batch_size=3)
    make_audience(settings, range(30))
    assert run_sync(config, settings=settings).sent == 30
    first_files = batch_files(settings)

    sql(settings, "update syncs.sync_file__audience set score = score + 100 where score < 5")
    sql(settings, "delete from syncs.sync_file__audience where score between 20 and 23")
    sql(settings, "insert into syncs.sync_file__audience values ('c900', 'n@example.com', 'new', 1), "
                  "('c901', 'm@example.com', 'new', 2)")
    child = start_named_child(defs, AUDIENCE, fault=fault)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err.decode()

    result = run_sync(config, settings=settings)
    assert result.status == "success"
    state, _ = apply_files(settings)
    assert state == model_rows(settings)
    _, delta = apply_files(settings, [p for p in batch_files(settings) if p not in first_files])
    expected = {f"c{i:03d}" for i in range(5)} | {f"c{i:03d}" for i in range(20, 24)} | {"c900", "c901"}
    assert set(delta) == expected and set(delta.values()) == {1}
    assert run_sync(config, settings=settings).sent == 0


@pytest.mark.parametrize("fault", ["after_pending:2", "after_send:2"])
def test_kill_webhook_sync_then_rerun_each_record_once(fault: str, duck_settings: Settings, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook cannot tell whether a batch arrived: after the kill the rerun
    redelivers the interrupted batches under the SAME Idempotency-Key, and the
    receiver (which deduplicates on it) applies every record exactly once."""
    import yaml

    from fakes.webhook import FakeWebhook
    from kairos.warehouse import Warehouse

    monkeypatch.setenv("KAIROS_TEST_HOOK_SECRET", "s3cret")
    with Warehouse(duck_settings) as wh:
        wh.ensure_schema("syncs")
        wh.execute("create table syncs.sync_webhook__members (member_id varchar, email varchar)")
        wh.executemany("insert into syncs.sync_webhook__members values (?, ?)",
                       [(f"m{i:02d}", f"m{i}@example.com") for i in range(10)])
    with FakeWebhook(secret=b"s3cret") as receiver:
        defs = tmp_path / "defs"
        defs.mkdir()
        (defs / "hook_members.yml").write_text(yaml.safe_dump({
            "model": "sync_webhook__members", "mode": "mirror", "primary_key": "member_id", "batch_size": 2,
            "channel": "webhook", "concurrency": 1,
            "destination": {"type": "webhook", "url": f"{receiver.url}/hook", "secret_env": "KAIROS_TEST_HOOK_SECRET",
                            "max_attempts": 2, "backoff_base_seconds": 0.01}}))
        child = start_named_child(defs, "hook_members", fault=fault)
        _, err = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, err.decode()
        handed_before = len(receiver.requests)

        from syncs.config import load_sync_configs

        result = run_sync(load_sync_configs(defs)["hook_members"], settings=duck_settings)
        assert result.status == "success" and result.recovered == 0
        applied = Counter(k for doc in receiver.delivered.values() for k in doc["record_keys"])
        assert applied == Counter(f"m{i:02d}" for i in range(10))  # each record applied exactly once
        # the interrupted batches went out again under their ids, and the receiver dropped the copies
        assert receiver.duplicates == (handed_before if fault == "after_send:2" else 0)
        assert result.redelivered == 10 and result.sent == 10
        assert run_sync(load_sync_configs(defs)["hook_members"], settings=duck_settings).sent == 0


def test_failed_redelivery_stays_pending_until_it_succeeds(duck_settings: Settings, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """After a kill, the receiver is down for the rerun: the interrupted batches stay
    pending (no new batch ids, so no chance of a double delivery) and the run fails;
    the next run redelivers them under their original ids."""
    import yaml

    from fakes import Fault
    from fakes.webhook import FakeWebhook
    from kairos.warehouse import Warehouse
    from syncs.config import load_sync_configs
    from syncs.engine import SyncFailed

    monkeypatch.setenv("KAIROS_TEST_HOOK_SECRET", "s3cret")
    with Warehouse(duck_settings) as wh:
        wh.ensure_schema("syncs")
        wh.execute("create table syncs.sync_webhook__members (member_id varchar, email varchar)")
        wh.executemany("insert into syncs.sync_webhook__members values (?, ?)",
                       [(f"m{i:02d}", f"m{i}@example.com") for i in range(6)])
    with FakeWebhook(secret=b"s3cret") as receiver:
        defs = tmp_path / "defs"
        defs.mkdir()
        (defs / "hook_members.yml").write_text(yaml.safe_dump({
            "model": "sync_webhook__members", "mode": "insert", "primary_key": "member_id", "batch_size": 2,
            "channel": "webhook", "concurrency": 1,
            "destination": {"type": "webhook", "url": f"{receiver.url}/hook", "secret_env": "KAIROS_TEST_HOOK_SECRET",
                            "max_attempts": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02}}))
        config = load_sync_configs(defs)["hook_members"]
        child = start_named_child(defs, "hook_members", fault="after_send:2")
        child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL
        with Warehouse(duck_settings) as wh:
            pending = [r[0] for r in wh.fetchall("select batch_id from ops.sync_batches where status = 'pending' "
                                                 "order by batch_id")]
        assert len(pending) == 3

        receiver.inject(*[Fault.status(503) for _ in range(10)])
        with pytest.raises(SyncFailed, match="could not be redelivered"):
            run_sync(config, settings=duck_settings)
        with Warehouse(duck_settings) as wh:
            still = [r[0] for r in wh.fetchall("select batch_id from ops.sync_batches where status = 'pending' "
                                               "order by batch_id")]
        assert still == pending  # untouched, no rows re-streamed under new ids

        receiver.faults.clear()
        result = run_sync(config, settings=duck_settings)
        assert result.status == "success" and result.redelivered == 6
        applied = Counter(k for doc in receiver.delivered.values() for k in doc["record_keys"])
        assert applied == Counter(f"m{i:02d}" for i in range(6))
        assert set(receiver.delivered) == set(pending)  # every batch under the id it was first sent with


def test_unconfirmed_batch_keeps_its_id(duck_settings: Settings, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that times out may have been applied by the receiver: it is not
    re-streamed under a new id but redelivered under its own on the next run."""
    import yaml

    from fakes import Fault
    from fakes.webhook import FakeWebhook
    from kairos.warehouse import Warehouse
    from syncs.config import load_sync_configs
    from syncs.engine import SyncFailed
    from syncs.ledger import read_records

    monkeypatch.setenv("KAIROS_TEST_HOOK_SECRET", "s3cret")
    with Warehouse(duck_settings) as wh:
        wh.ensure_schema("syncs")
        wh.execute("create table syncs.sync_webhook__members (member_id varchar, email varchar)")
        wh.executemany("insert into syncs.sync_webhook__members values (?, ?)",
                       [(f"m{i:02d}", f"m{i}@example.com") for i in range(4)])
    with FakeWebhook(secret=b"s3cret") as receiver:
        defs = tmp_path / "defs"
        defs.mkdir()
        (defs / "hook_members.yml").write_text(yaml.safe_dump({
            "model": "sync_webhook__members", "mode": "insert", "primary_key": "member_id", "batch_size": 2,
            "channel": "webhook", "concurrency": 1,
            "destination": {"type": "webhook", "url": f"{receiver.url}/hook", "secret_env": "KAIROS_TEST_HOOK_SECRET",
                            "max_attempts": 1, "timeout_seconds": 0.3}}))
        config = load_sync_configs(defs)["hook_members"]
        receiver.inject(Fault.slow(0.8))  # the receiver applies the batch, the client times out
        with pytest.raises(SyncFailed, match="not confirmed"):
            run_sync(config, settings=duck_settings)
        first_id = receiver.requests[0].headers["idempotency-key"]
        with Warehouse(duck_settings) as wh:
            assert {r["status"] for r in read_records(wh, "hook_members")} == {"failed"}
            assert wh.scalar("select status from ops.sync_batches where batch_id = ?", [first_id]) == "pending"
        result = run_sync(config, settings=duck_settings)
        assert result.status == "success" and result.redelivered == 2 and result.sent == 4
        deadline = time.monotonic() + 5  # the slow first attempt finishes in the receiver on its own time
        while receiver.duplicates < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.duplicates == 1  # the same batch twice, under one id: applied once
        applied = Counter(k for doc in receiver.delivered.values() for k in doc["record_keys"])
        assert applied == Counter(f"m{i:02d}" for i in range(4))
