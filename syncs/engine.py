"""The sync engine: compare a ``sync_*`` model with what the destination last
received, send only the difference in batches, and record every record's
fate in the ledger (``syncs.ledger``).

One run, in order:

1. Take the sync's lock (a thread lock; on PostgreSQL also an advisory lock,
   so two processes never run the same sync at once; a DuckDB file already
   admits a single writing process).
2. Create the ledger if needed and write the run row (``ops.sync_runs``).
3. Resolve batches an interrupted run left 'pending' (see "Exactly once").
4. In one read snapshot of the warehouse: count the model's rows and stream
   the rows that must travel as Arrow batches, never the whole model:

   * ``insert`` (message intents, events): rows never delivered (an
     anti-join against ``ops.sync_records``); each record is sent once.
   * ``upsert`` (profiles, traits): rows whose hash differs from the version
     in the sync's snapshot table (new or changed).
   * ``mirror`` (audience lists): as upsert, then the snapshot's rows that
     left the model travel as ``delete`` batches.

   The comparison runs in the warehouse: each model row is hashed in SQL
   (DuckDB: its native 64-bit ``hash()`` of the typed values, about ten
   times cheaper than md5 over text; PostgreSQL: md5 of the values as text,
   separated, with a null marker). The hash never leaves its warehouse, and
   a salt of the payload's column names and types makes a changed field list
   or type resend every row. ``--full`` sends every row explicitly.
5. Batches are grouped into *commit groups* (``commit_rows``). Per group:
   the rows go to the outbox and the batches are marked 'pending' (one
   transaction); the batches are handed to the destination by a bounded
   thread pool (``concurrency``); then one transaction records every row's
   outcome, moves delivered versions into the snapshot and marks the batches
   'sent' (or 'failed'/'skipped'). With ``concurrency`` above 1 the next
   group is prepared while the previous one is in flight.

Exactly once: a batch is 'pending', with its rows in the outbox, BEFORE it is
handed over, and its outcome is recorded only after. If the process dies in
between, the next run asks the destination ``batch_delivered(batch_id)``:
delivered batches are committed as they are (files: the batch file exists);
the others are redelivered from the outbox under the SAME batch id with the
same rows, so a receiver that deduplicates on the id (the webhook's
``Idempotency-Key``) applies them once. No record is lost and none is
applied twice. A redelivery that fails leaves the batch pending and fails the
run (a request the destination refuses outright, a 4xx, gives the batch up:
its rows travel again).

Failures: :func:`run_sync` returns a :class:`SyncResult` only when the run
succeeded (or was a dry run). If any record failed, anything broke, a key was
null or duplicated, or the share of rejected rows exceeded
``alert_rejection_rate`` (an alert is then also posted, see
``syncs.alerts``), it records the run as 'failed' and raises
:class:`SyncFailed`, whose ``result`` carries the counts and the reason.
Failed records travel again on the next run; rejected ones only once they
change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import logging
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kairos.settings import Settings, load_settings
from kairos.warehouse import Warehouse, qualified, quote_ident
from syncs.config import RESERVED_PREFIX, SyncConfig
from syncs.destinations.base import Batch, Destination, destination_class, fault_point
from syncs.ledger import (
    BATCH_ID, BATCH_RESULT_SCHEMA, CHANNEL, CUSTOMER, IN_LEDGER, IN_SNAPSHOT, KEY, OP, OUTCOME_SCHEMA, RECORDS,
    ROW_HASH, SCENARIO, SCHEMA, VERSION_META, GroupRows, Ledger, ensure_ledger, utcnow, version_meta,
)

log = logging.getLogger("kairos.syncs")

SAMPLE_ROWS = 5
PROGRESS_EVERY_S = 2.0
READ_MIN_ROWS, READ_MAX_ROWS = 8_192, 65_536

KEY_HASH = "_kairos_key_hash"
CHANGE = "_kairos_change"
#: change kinds a streamed row may carry
ADDED, CHANGED, UNCHANGED, REMOVED = "added", "changed", "unchanged", "removed"
NULL_KEY, REJECTED_UNCHANGED = "null_key", "rejected_unchanged"


class SyncFailed(RuntimeError):
    """A sync run left records undelivered or broke; ``result`` has the details."""

    def __init__(self, result: "SyncResult") -> None:
        self.result = result
        super().__init__(
            f"sync {result.sync_name!r} failed (run {result.run_id}): {result.error or 'records left undelivered'} "
            f"[sent={result.sent} rejected={result.rejected} failed={result.failed}; "
            f"see ops.sync_runs / ops.sync_records]"
        )


@dataclass
class SyncResult:
    """What one run did. ``status`` is 'success', 'failed' or 'dry_run'."""

    sync_name: str
    run_id: str
    status: str
    mode: str = "insert"
    full: bool = False
    destination: str = ""
    rows_considered: int = 0  # rows in the model when the run read it
    sent: int = 0  # delivered by this run (removals included)
    rejected: int = 0  # refused for good (includes rows with a null key)
    failed: int = 0  # not delivered; travel again next run
    skipped_already_sent: int = 0  # unchanged since delivered (insert: delivered before) and not resent
    skipped_rejected: int = 0  # rejected before and unchanged since
    added: int = 0  # rows new to the destination (handed over; dry run: would be)
    changed: int = 0  # rows changed since delivered (handed over; dry run: would be)
    removed: int = 0  # rows that left the model (mirror; handed over as deletes; dry run: would be)
    would_send: int = 0  # dry run: rows that would travel
    recovered: int = 0  # rows of interrupted batches found delivered (not resent)
    redelivered: int = 0  # rows of interrupted batches sent again under their batch id
    batches: int = 0  # batches handed over
    concurrency: int = 1
    duration_s: float = 0.0
    rows_per_second: float = 0.0  # rows handed over per second of the whole run
    rejection_rate: float = 0.0  # rejected / handed over
    alert: str | None = None  # set when the rejection rate exceeded the definition's threshold
    outputs: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)  # dry run: a few rows that would travel
    #: seconds the run's main thread spent per phase (read, prepare, outbox, wait, commit, ...)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values (for Dagster asset metadata); None values left out."""
        data = asdict(self)
        if self.status != "dry_run":
            data.pop("sample")
            data.pop("would_send")
        return {k: v for k, v in data.items() if v is not None}

    def summary_line(self) -> str:
        """One human line: name, status, counts, time, outputs."""
        counts = (
            f"considered={self.rows_considered} "
            + (f"would_send={self.would_send} " if self.status == "dry_run" else f"sent={self.sent} ")
            + (f"added={self.added} changed={self.changed} " if self.mode != "insert" else "")
            + (f"removed={self.removed} " if self.mode == "mirror" else "")
            + f"skipped={self.skipped_already_sent} rejected={self.rejected} failed={self.failed}"
            + (f" recovered={self.recovered}" if self.recovered else "")
            + (f" redelivered={self.redelivered}" if self.redelivered else "")
        )
        line = f"{self.sync_name:<32} {self.status:<8} {counts} {self.duration_s:.2f}s"
        if self.status != "dry_run" and self.sent:
            line += f" ({self.rows_per_second:,.0f} rows/s)"
        line += f" run={self.run_id}"
        if self.outputs:
            line += f" files={len(self.outputs)}" if any("/" in o and "://" not in o for o in self.outputs) \
                else f" to={','.join(self.outputs[:3])}"
        if self.alert:
            line += f"\n    alert: {self.alert}"
        if self.error:
            line += f"\n    error: {self.error}"
        return line


ProgressCallback = Callable[["Progress"], None]


@dataclass
class Progress:
    """Running figures of a sync, for progress lines and callbacks."""

    sync_name: str
    started: float
    handed_over: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    batches: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def rows_per_second(self) -> float:
        return self.handed_over / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        return (f"sync {self.sync_name}: {self.handed_over:,} rows in {self.batches:,} batches "
                f"({self.rows_per_second:,.0f} rows/s) sent={self.sent:,} rejected={self.rejected:,} "
                f"failed={self.failed:,} {self.elapsed_s:.1f}s")


class _Phases:
    """Adds up wall time per phase of the main thread (``with phases("commit"):``)."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.into[name] = round(self.into.get(name, 0.0) + time.perf_counter() - started, 4)


def stderr_progress(progress: Progress) -> None:
    """Print a progress line on stderr (a redrawn line on a terminal)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r" + progress.line() + "\x1b[K")
    else:
        sys.stderr.write(progress.line() + "\n")
    sys.stderr.flush()


# -- public entry point -------------------------------------------------------

def run_sync(
    config: SyncConfig,
    warehouse: Warehouse | None = None,
    *,
    full: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
    progress: ProgressCallback | bool | None = None,
) -> SyncResult:
    """Run one sync; see the module docstring.

    ``warehouse`` is used for ledger writes (a second connection to the same
    warehouse is opened to stream the model); ``settings`` defaults to the
    warehouse's, and gives the output folder. ``full`` resends every row of
    the model (and, in mirror mode, every removal); ``dry_run`` counts what
    would be added, changed and removed and samples it, sends nothing and
    writes only a 'dry_run' row to ``ops.sync_runs``. ``progress``: True
    prints a progress line on stderr every 2 s of a long sync; a callable
    gets a :class:`Progress` instead. Raises :class:`SyncFailed` if any
    record was left undelivered.
    """
    started_at = utcnow()
    started = time.perf_counter()
    result = SyncResult(sync_name=config.name, run_id=new_run_id(started_at), status="running",
                        mode=config.mode, full=full)
    reporter = stderr_progress if progress is True else (progress or None)
    thread_lock = _thread_lock(config.name)
    if not thread_lock.acquire(blocking=False):
        raise _early_failure(result, started, "this sync is already running in this process")
    wh: Warehouse | None = warehouse
    locked_pg = False
    cause: BaseException | None = None
    try:
        if wh is None:
            wh = Warehouse(settings or load_settings())
        settings = settings or wh.settings
        wh.apply_duckdb_settings()
        ensure_ledger(wh)
        locked_pg = _pg_lock(wh, config.name)
        if wh.dialect == "postgres" and not locked_pg:
            raise _early_failure(result, started, "this sync is already running (PostgreSQL advisory lock held)")
        ledger = Ledger(wh, config.name)
        ledger.start_run(result.run_id, config.mode, full, "dry_run" if dry_run else "running", started_at)
        log.info("sync %s: run %s started (%s%s)", config.name, result.run_id, config.mode, ", full" if full else "")
        try:
            plan = _Plan.build(wh, config)
            if dry_run:
                _dry_run(wh, plan, result, full)
            else:
                _Delivery(wh, ledger, plan, settings, result, full, reporter, started).run()
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised as SyncFailed
            cause = exc
            result.error = _join(result.error, f"{type(exc).__name__}: {exc}")
            log.debug("sync %s failed", config.name, exc_info=True)
        result.duration_s = round(time.perf_counter() - started, 3)
        handed = result.sent + result.rejected + result.failed
        result.rows_per_second = round(handed / result.duration_s, 1) if result.duration_s > 0 else 0.0
        if result.status != "dry_run":
            _judge(wh, config, result, handed)
        finishing = time.perf_counter()
        ledger.finish_run(result.run_id, status=result.status, counts=_counts(result),
                          duration_s=result.duration_s, outputs=result.outputs, error=result.error)
        # (DuckDB checkpoints the run's writes into the file here)
        result.phase_seconds["finish"] = round(time.perf_counter() - finishing, 4)
        try:
            ledger.drop_stage()
        except Exception:  # noqa: BLE001 - a leftover stage table is harmless
            log.warning("sync %s: could not drop the stage table", config.name)
    except SyncFailed:
        raise
    except Exception as exc:  # the warehouse or the ledger itself failed: still a SyncFailed
        cause = exc
        result.status = "failed"
        result.error = _join(result.error, f"{type(exc).__name__}: {exc}")
        result.duration_s = round(time.perf_counter() - started, 3)
    finally:
        if locked_pg and wh is not None:
            _pg_unlock(wh, config.name)
        if warehouse is None and wh is not None:
            wh.close()
        thread_lock.release()
    if result.status == "failed":
        raise SyncFailed(result) from cause  # the exception carries the summary: no log line too
    log.info("%s", result.summary_line())
    return result


def new_run_id(at: dt.datetime | None = None) -> str:
    """Unique, and sortable in start order to the microsecond: ``20261123T101500123456Z-3fa2c1``.

    Batch ids (and so file names) start with it, so an importer that applies
    files in name order applies runs in the order they happened.
    """
    at = at or utcnow()
    return f"{at:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def _judge(wh: Warehouse, config: SyncConfig, result: SyncResult, handed: int) -> None:
    """Success or failure, and the rejection-rate alert."""
    result.rejection_rate = round(result.rejected / handed, 6) if handed else 0.0
    alert = handed > 0 and result.rejected > 0 and result.rejection_rate > config.alert_rejection_rate
    if alert:
        result.alert = (f"{result.rejected} of {handed} rows rejected ({result.rejection_rate:.1%}), above "
                        f"alert_rejection_rate {config.alert_rejection_rate:.1%}")
        try:
            from syncs.alerts import rejection_alert

            rejection_alert(wh, config, result)
        except Exception as exc:  # noqa: BLE001 - an alert that cannot be posted must not hide the failure
            result.alert += f" (alert webhook failed: {type(exc).__name__}: {exc})"
    undelivered = bool(result.error or result.failed or alert)
    result.status = "failed" if undelivered else "success"
    if undelivered and (result.failed or result.rejected) and not (result.error and "rejected" in result.error):
        summary = f"{result.rejected} record(s) rejected, {result.failed} failed"
        if alert:
            summary += (f"; rejection rate {result.rejection_rate:.1%} is above alert_rejection_rate "
                        f"{config.alert_rejection_rate:.1%}")
        if result.failed:
            summary += " (failed records travel again on the next run)"
        result.error = _join(summary, result.error)


# -- the SQL plan ----------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """The SQL a run needs, built once from the definition and the model's columns."""

    config: SyncConfig
    dialect: str
    payload: tuple[str, ...]  # output column names, in order
    payload_types: tuple[tuple[str, str], ...]  # (output name, SQL type)
    source_sql: str  # payload + meta columns of every model row (the "src" CTE)
    key_sql: str  # the record key of a model row ``s``, as text
    customer_column: str | None = None  # a payload column that is the model's customer_key

    @classmethod
    def build(cls, wh: Warehouse, config: SyncConfig) -> "_Plan":
        schema, model = config.relation
        columns = wh.columns(schema, model)
        if not columns:
            raise LookupError(
                f"model {schema}.{model} does not exist in the warehouse (build it with dbt first)"
            )
        fields = config.fields or tuple((c, c) for c in columns)
        missing = sorted({src for _, src in fields} - set(columns))
        if config.primary_key not in columns:
            missing.insert(0, config.primary_key)
        if missing:
            raise LookupError(f"columns {missing} are not in model {schema}.{model} (it has: {', '.join(columns)})")
        reserved = [out for out, _ in fields if out.startswith(RESERVED_PREFIX)]
        if reserved:
            raise ValueError(f"model columns {reserved} use the reserved prefix {RESERVED_PREFIX!r}; list `fields`")

        relation = qualified(schema, model)
        payload_sql = [f"s.{quote_ident(src)} as {quote_ident(out)}" for out, src in fields]
        payload_types = tuple(wh.describe(f"select {', '.join(payload_sql)} from {relation} as s"))
        # the salt: a changed field list or type changes every row's hash
        salt = hashlib.sha1(json.dumps(payload_types).encode()).hexdigest()[:16]

        def text(col: str) -> str:
            return f"cast(s.{quote_ident(col)} as varchar)"

        key_sql = text(config.primary_key)
        channel = (
            text("channel") if "channel" in columns
            # validated in syncs.config as ^[a-z][a-z0-9_]*$, so safe as a literal
            else f"'{config.channel}'" if config.channel else "cast(null as varchar)"
        )
        meta_sql = {
            KEY: key_sql,
            CUSTOMER: text("customer_key") if "customer_key" in columns else "cast(null as varchar)",
            CHANNEL: channel,
            SCENARIO: text("scenario_id") if "scenario_id" in columns else "cast(null as varchar)",
            ROW_HASH: row_hash_sql(wh.dialect, salt, [f"s.{quote_ident(src)}" for _, src in fields]),
            KEY_HASH: key_hash_sql(wh.dialect, key_sql),
        }
        select = ", ".join(payload_sql + [f"{expr} as {quote_ident(name)}" for name, expr in meta_sql.items()])
        customer_column = next((out for out, src in fields if src == "customer_key"), None)
        return cls(config=config, dialect=wh.dialect, payload=tuple(out for out, _ in fields),
                   payload_types=payload_types, source_sql=f"select {select} from {relation} as s", key_sql=key_sql,
                   customer_column=customer_column)

    @property
    def snapshot(self) -> str:
        from syncs.ledger import snapshot_table_name

        return qualified(SCHEMA, snapshot_table_name(self.config.name))

    def count_sql(self) -> str:
        return f"select count(*) from {qualified(*self.config.relation)}"

    def classified_sql(self, snapshot_exists: bool = True, unchanged_too: bool = True) -> tuple[str, list[Any]]:
        """Every model row with its change kind (``unchanged_too`` False: without
        the rows unchanged since the snapshot, filtered as early as possible).

        Only the snapshot's key, hash and operation take part in the join, so
        the comparison moves 1M keys, not 1M payloads.
        """
        k, h, op = quote_ident(KEY), quote_ident(ROW_HASH), quote_ident(OP)
        records = f"(select record_key, status, row_hash from {qualified(SCHEMA, RECORDS)} where sync_name = ?)"
        ledger_kind = (
            f"case when src.{k} is null then '{NULL_KEY}' "
            "when r.status = 'sent' then 'unchanged' "
            f"when r.status = 'rejected' and r.row_hash = cast(src.{h} as varchar) then '{REJECTED_UNCHANGED}' "
            f"when r.record_key is null then '{ADDED}' else '{CHANGED}' end"
        )
        if not self.config.keeps_snapshot:  # insert mode: the ledger says what was sent
            sql = (
                f"with src as ({self.source_sql}) select src.*, {ledger_kind} as {quote_ident(CHANGE)}, "
                f"false as {quote_ident(IN_SNAPSHOT)}, (r.record_key is not null) as {quote_ident(IN_LEDGER)} "
                f"from src left join {records} as r on r.record_key = src.{k}"
            )
            return sql, [self.config.name]
        hash_type = "ubigint" if self.dialect == "duckdb" else "varchar"
        versions = (f"select {k} as k, {h} as h, {op} as op from {self.snapshot}" if snapshot_exists
                    else f"select cast(null as varchar) as k, cast(null as {hash_type}) as h, "
                         "cast(null as varchar) as op where 1 = 0")
        if self.config.mode == "insert":  # a feed in insert mode: sent once; the snapshot is the list
            kind = ledger_kind.replace("src.", "d.")
        else:
            kind = (
                f"case when d.{k} is null then '{NULL_KEY}' "
                f"when d._kairos_v_h is not null and d._kairos_v_op <> 'delete' and d._kairos_v_h = d.{h} "
                f"then '{UNCHANGED}' "
                f"when r.status = 'rejected' and r.row_hash = cast(d.{h} as varchar) then '{REJECTED_UNCHANGED}' "
                f"when d._kairos_v_k is null or d._kairos_v_op = 'delete' then '{ADDED}' else '{CHANGED}' end"
            )
        # unchanged rows are dropped right after the snapshot join (before the ledger join)
        unchanged = "false" if unchanged_too or self.config.mode == "insert" else (
            f"(src.{k} is not null and v.h is not null and v.op <> 'delete' and v.h = src.{h})")
        if self.config.mode != "mirror":
            src_cols = ", ".join(f"d.{quote_ident(c)}" for c in self.stream_columns)
            sql = (
                f"with src as ({self.source_sql}), "
                f"d as (select src.*, v.k as _kairos_v_k, v.h as _kairos_v_h, v.op as _kairos_v_op from src "
                f"left join ({versions}) as v on v.k = src.{k} where not {unchanged}) "
                f"select {src_cols}, {kind} as {quote_ident(CHANGE)}, "
                f"(d._kairos_v_k is not null) as {quote_ident(IN_SNAPSHOT)}, "
                f"(r.record_key is not null) as {quote_ident(IN_LEDGER)} "
                f"from d left join {records} as r on r.record_key = d.{k}"
            )
            return sql, [self.config.name]
        # mirror: one pass over the model and the snapshot's keys; a key only on the
        # snapshot side left the model ('removed': its payload is looked up afterwards,
        # see removed_rows_sql). Tombstones of rows removed earlier stay out.
        cols = [f"d.{quote_ident(c)}" for c in self.stream_columns if c not in (KEY, KEY_HASH)]
        cols += [f"coalesce(d.{k}, d._kairos_v_k) as {k}",
                 f"case when d._kairos_present then d.{quote_ident(KEY_HASH)} "
                 f"else {key_hash_sql(self.dialect, 'd._kairos_v_k')} end as {quote_ident(KEY_HASH)}"]
        sql = (
            f"with src as (select *, true as _kairos_present from ({self.source_sql}) as s0), "
            f"d as (select src.*, v.k as _kairos_v_k, v.h as _kairos_v_h, v.op as _kairos_v_op from src "
            f"full outer join ({versions}) as v on v.k = src.{k} "
            f"where not {unchanged} and not (src._kairos_present is null and v.op = 'delete')) "
            f"select {', '.join(cols)}, case when d._kairos_present is null then '{REMOVED}' else {kind} end "
            f"as {quote_ident(CHANGE)}, (d._kairos_v_k is not null) as {quote_ident(IN_SNAPSHOT)}, "
            f"(r.record_key is not null) as {quote_ident(IN_LEDGER)} "
            f"from d left join {records} as r on r.record_key = coalesce(d.{k}, d._kairos_v_k)"
        )
        return sql, [self.config.name]

    @property
    def stream_columns(self) -> tuple[str, ...]:  # noqa: D401
        """Payload and meta columns of ``source_sql``, in order."""
        return self.payload + (KEY, CUSTOMER, CHANNEL, SCENARIO, ROW_HASH, KEY_HASH)

    def stream_sql(self, full: bool, snapshot_exists: bool = True) -> tuple[str, list[Any]]:
        """Rows to hand over (plus null-key and rejected-unchanged rows, to count them)."""
        sql, params = self.classified_sql(snapshot_exists, unchanged_too=full)
        if full:
            return sql, params
        return f"select * from ({sql}) as c where c.{quote_ident(CHANGE)} <> '{UNCHANGED}'", params

    def removed_sql(self, snapshot_columns: set[str], keys_relation: str | None = None) -> tuple[str, list[Any]]:
        """Mirror mode: the snapshot's rows whose key left the model, as delete rows
        with the payload as last delivered. With ``keys_relation`` (a staged table
        with column ``k``): the rows of those keys, found by the main pass."""
        k = quote_ident(KEY)
        payload = [f"v.{quote_ident(name)}" if name in snapshot_columns
                   else f"cast(null as {sql_type}) as {quote_ident(name)}" for name, sql_type in self.payload_types]
        customer = f"v.{quote_ident(CUSTOMER)}"
        if self.customer_column and self.customer_column in snapshot_columns:  # not stored twice
            customer = (f"coalesce(v.{quote_ident(CUSTOMER)}, cast(v.{quote_ident(self.customer_column)} as varchar)) "
                        f"as {quote_ident(CUSTOMER)}")
        meta = [
            f"v.{k}", customer, f"v.{quote_ident(CHANNEL)}", f"v.{quote_ident(SCENARIO)}",
            f"cast(null as {'ubigint' if self.dialect == 'duckdb' else 'varchar'}) as {quote_ident(ROW_HASH)}",
            f"{key_hash_sql(self.dialect, 'v.' + k)} as {quote_ident(KEY_HASH)}",
            f"'{REMOVED}' as {quote_ident(CHANGE)}", f"true as {quote_ident(IN_SNAPSHOT)}",
            f"(r.record_key is not null) as {quote_ident(IN_LEDGER)}",
        ]
        sql = (
            f"select {', '.join(payload + meta)} from {self.snapshot} as v "
            f"left join (select record_key from {qualified(SCHEMA, RECORDS)} where sync_name = ?) as r "
            f"on r.record_key = v.{k} "
            f"where v.{quote_ident(OP)} <> 'delete' and "
            + (f"v.{k} in (select k from {keys_relation})" if keys_relation else
               f"not exists (select 1 from {qualified(*self.config.relation)} as s where {self.key_sql} = v.{k})")
        )
        return sql, [self.config.name]


def row_hash_sql(dialect: str, salt: str, columns: list[str]) -> str:
    """The hash of a row's payload, as text.

    DuckDB: ``hash()`` over the typed values (UBIGINT; the ledger stores it as
    text). PostgreSQL: md5
    of the values cast to text, unit separator between values and record
    separator for NULL, nested in groups because PostgreSQL caps function
    arguments at 100. ``salt`` is a hex literal (checked here).
    """
    if not all(c in "0123456789abcdef" for c in salt):
        raise ValueError("salt must be hex")
    if dialect == "duckdb":
        return f"hash('{salt}', {', '.join(columns)})"
    parts = [f"'{salt}'"] + [f"coalesce(cast({c} as varchar), chr(30))" for c in columns]
    groups = [f"concat_ws(chr(31), {', '.join(parts[i:i + 50])})" for i in range(0, len(parts), 50)]
    return f"md5({groups[0] if len(groups) == 1 else 'concat_ws(chr(29), ' + ', '.join(groups) + ')'})"


def key_hash_sql(dialect: str, key_sql: str) -> str:
    """A 64-bit hash of the record key (the in-memory duplicate check)."""
    if dialect == "duckdb":
        return f"hash({key_sql})"
    return f"('x' || substr(md5({key_sql}), 1, 16))::bit(64)::bigint"


# -- dry run ---------------------------------------------------------------------------

def _dry_run(wh: Warehouse, plan: _Plan, result: SyncResult, full: bool) -> None:
    """Counts of what would be added, changed and removed, and a sample; sends nothing."""
    ledger = Ledger(wh, plan.config.name)
    exists = wh.table_exists(SCHEMA, ledger.snapshot_name)  # a dry run creates nothing
    sql, params = plan.classified_sql(exists)
    kinds = {k: int(v) for k, v in
             wh.fetchall(f"select c.{quote_ident(CHANGE)}, count(*) from ({sql}) as c group by 1", params)}
    result.rows_considered = sum(v for k, v in kinds.items() if k != REMOVED)
    null_keys = kinds.get(NULL_KEY, 0)
    result.added, result.changed = kinds.get(ADDED, 0), kinds.get(CHANGED, 0)
    result.removed = kinds.get(REMOVED, 0)
    removed_sql = None
    if plan.config.mode == "mirror" and exists and result.removed:
        removed_sql, rparams = plan.removed_sql(set(ledger.snapshot_columns()))
    if null_keys:
        result.rejected += null_keys
        result.error = (f"(dry run) {null_keys} row(s) of {plan.config.schema}.{plan.config.model} have a null "
                        f"{plan.config.primary_key!r} (the primary key) and cannot be sent")
    if full:
        result.would_send = result.rows_considered - null_keys + result.removed
    else:
        result.skipped_already_sent = kinds.get(UNCHANGED, 0)
        result.skipped_rejected = kinds.get(REJECTED_UNCHANGED, 0)
        result.would_send = result.added + result.changed + result.removed
    sql, params = plan.stream_sql(full, exists)
    sample = wh.fetch_arrow(
        f"select * from ({sql}) as c where c.{quote_ident(CHANGE)} not in "
        f"('{NULL_KEY}', '{REJECTED_UNCHANGED}', '{REMOVED}') limit {SAMPLE_ROWS}", params)
    rows = _sample_rows(plan, sample, with_kind=plan.config.mode != "insert")
    if removed_sql is not None and len(rows) < SAMPLE_ROWS:
        removed = wh.fetch_arrow(f"{removed_sql} limit {SAMPLE_ROWS - len(rows)}", rparams)
        rows += _sample_rows(plan, removed, with_kind=True)
    result.sample = rows
    result.status = "dry_run"


def _sample_rows(plan: _Plan, table: pa.Table, *, with_kind: bool) -> list[dict[str, Any]]:
    if not table.num_rows:  # (an empty PostgreSQL result comes back without columns)
        return []
    cols = list(plan.payload) + ([CHANGE] if with_kind else [])
    out = []
    for row in table.select(cols).to_pylist():
        item = {k: _jsonable(v) for k, v in row.items() if k != CHANGE}
        if with_kind:
            item["_change"] = row[CHANGE]
        out.append(item)
    return out


# -- delivery ------------------------------------------------------------------------------

@dataclass
class _SentBatch:
    """One batch handed (or about to be handed) to the destination."""

    batch: Batch
    kind_counts: Counter
    future: Future | None = None
    status: str = "pending"  # sent | failed | skipped
    outcome: Any = None
    error: str | None = None


@dataclass
class _Group:
    """A commit group: batches whose ledger writes share two transactions."""

    rows: GroupRows
    batches: list[_SentBatch]

    @property
    def num_rows(self) -> int:
        return self.rows.table.num_rows


class _GroupJson:
    """Encodes a whole group's rows as JSON once, on first request, for every
    batch of it (Arrow compute over the group instead of per-batch calls)."""

    def __init__(self, table: pa.Table) -> None:
        self._table: pa.Table | None = table
        self._rows: pa.Array | None = None
        self._lock = threading.Lock()

    def slice(self, offset: int, length: int) -> list[str]:
        from syncs.destinations.base import encode_json_array

        with self._lock:
            if self._rows is None:
                assert self._table is not None
                self._rows = encode_json_array(self._table)
                self._table = None
        return self._rows.slice(offset, length).to_pylist()


class _Delivery:
    """One real (not dry) run of a sync: recovery, streaming, sending, recording."""

    def __init__(self, wh: Warehouse, ledger: Ledger, plan: _Plan, settings: Settings, result: SyncResult,
                 full: bool, reporter: ProgressCallback | None, started: float) -> None:
        self.wh, self.ledger, self.plan, self.config = wh, ledger, plan, plan.config
        self.settings, self.result, self.full = settings, result, full
        self.reporter = reporter
        self.progress = Progress(sync_name=plan.config.name, started=started)
        self._last_report = started
        self.dest: Destination = destination_class(self.config.destination.type)(self.config, settings)
        self.concurrency = _concurrency(self.config, type(self.dest))
        result.concurrency = self.concurrency
        self.pool: ThreadPoolExecutor | None = None
        self.abort = threading.Event()
        self.seq = 0
        self.commit_seq = 0
        self.keep_versions = self.config.keeps_snapshot
        self.seen_hashes: list[np.ndarray] = []
        self.outputs: dict[str, None] = {}
        self.redelivered_in_model = 0
        self.phase = _Phases(result.phase_seconds)

    # -- the run --------------------------------------------------------------------
    def run(self) -> None:
        result = self.result
        result.destination = self.dest.describe()
        try:
            self.dest.open(result.run_id)
            if self.concurrency > 1:
                self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="kairos-sync")
            with self.phase("recover"):
                self.ledger.close_interrupted_runs(result.run_id)
                self.ledger.ensure_snapshot(self.plan.payload_types, evolve=False)
                self.commit_seq = self.ledger.next_commit_seq()
                self._recover_legacy()
                self._recover()
            # payload columns added or retyped since the last run (after recovery,
            # which redelivers pending batches with the columns they had)
            self.ledger.ensure_snapshot(self.plan.payload_types, evolve=True)
            self._stream_and_send()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            self.dest.close()
            result.outputs = list(self.outputs)
            if self.reporter is not None and self.progress.handed_over and \
                    time.perf_counter() - self.progress.started >= PROGRESS_EVERY_S:
                self.reporter(self.progress)
                if self.reporter is stderr_progress and sys.stderr.isatty():
                    sys.stderr.write("\n")

    def _stream_and_send(self) -> None:
        result, plan = self.result, self.plan
        sql, params = plan.stream_sql(self.full)
        snapshot_columns = set(self.ledger.snapshot_columns()) if self.config.mode == "mirror" else set()
        reader = Warehouse(self.wh.settings)
        try:
            reader.apply_duckdb_settings()
            # DuckDB: one transaction, so the count and the streams see the same
            # snapshot. PostgreSQL: each query is consistent on its own.
            with reader.transaction() if reader.dialect == "duckdb" else contextlib.nullcontext():
                result.rows_considered = int(reader.scalar(plan.count_sql()) or 0)
                kinds: Counter = Counter()
                inflight: _Group | None = None
                pending: list[tuple[pa.Table, str]] = []
                pending_rows = 0
                rebatch = _Rebatcher(self.config.batch_size)
                removed_keys: list[pa.Array] = []
                try:
                    for step in ("main", "removed"):
                        if self.abort.is_set():
                            break
                        if step == "removed":
                            if not removed_keys:
                                break
                            # the payload of the rows that left the model, as last delivered
                            keys = pa.table({"k": pa.concat_arrays(removed_keys).cast(pa.string())})
                            staged = contextlib.ExitStack()
                            relation = staged.enter_context(reader.stage_arrow("_kairos_removed_keys", keys))
                            sql, params = plan.removed_sql(snapshot_columns, relation)
                        else:
                            staged = contextlib.ExitStack()
                        # a thread reads ahead, so the warehouse computes the next batches
                        # while this thread writes the ledger and the pool sends
                        source = reader.fetch_batches(sql, params, batch_size=_read_rows(self.config.batch_size))
                        with staged, contextlib.closing(_Prefetch(source)) as stream:
                            for record_batch in _timed(stream, self.phase, "read"):
                                if self.abort.is_set():
                                    break
                                table = pa.Table.from_batches([record_batch])
                                if step == "main":
                                    table = self._admit(table, kinds)
                                    if table is not None and self.config.mode == "mirror":
                                        table = self._hold_removed(table, removed_keys)
                                if table is None:
                                    continue
                                for part, operation in self._split(table):
                                    for batch_table in rebatch.add(operation, part):
                                        # a group holds exactly commit_rows rows, the batch that
                                        # crosses the mark is split (syncs.config.DEFAULT_COMMIT_ROWS)
                                        while batch_table.num_rows:
                                            room = self.config.commit_rows - pending_rows
                                            head = batch_table.slice(0, room)
                                            batch_table = batch_table.slice(head.num_rows)
                                            pending.append((head, operation))
                                            pending_rows += head.num_rows
                                            if pending_rows >= self.config.commit_rows:
                                                group, inflight = inflight, None
                                                inflight = self._dispatch(pending, group)
                                                pending, pending_rows = [], 0
                    if not self.abort.is_set():
                        pending.extend(rebatch.flush())
                        if pending:
                            group, inflight = inflight, None
                            inflight = self._dispatch(pending, group)
                except BaseException:
                    # record what the group in flight delivered before giving up (what
                    # cannot be recorded stays pending: the next run resolves it)
                    if inflight is not None:
                        with contextlib.suppress(Exception):
                            self.abort.set()
                            self._finish(inflight)
                    raise
                if inflight is not None:
                    self._finish(inflight)
                self._settle_counts(kinds)
        finally:
            reader.close()

    @staticmethod
    def _hold_removed(table: pa.Table, into: list[pa.Array]) -> pa.Table | None:
        """Keys of rows that left the model wait for the payload lookup; the rest travel on."""
        removed = pc.equal(table.column(CHANGE), REMOVED)
        if not pc.any(removed).as_py():
            return table
        into.append(table.column(KEY).filter(removed).combine_chunks())
        rest = table.filter(pc.invert(removed))
        return rest if rest.num_rows else None

    def _split(self, table: pa.Table) -> list[tuple[pa.Table, str]]:
        """Rows by the operation they ask of the destination."""
        if self.config.mode == "insert":
            return [(table, "insert")]
        if self.config.mode == "upsert":
            return [(table, "upsert")]
        removed = pc.equal(table.column(CHANGE), REMOVED)
        n_removed = pc.sum(removed).as_py() or 0
        if n_removed == 0:
            return [(table, "upsert")]
        if n_removed == table.num_rows:
            return [(table, "delete")]
        return [(table.filter(pc.invert(removed)), "upsert"), (table.filter(removed), "delete")]

    def _admit(self, table: pa.Table, kinds: Counter) -> pa.Table | None:
        """Count a streamed batch's kinds; keep the rows that travel."""
        change = table.column(CHANGE)
        counts = pc.value_counts(change).to_pylist()
        for item in counts:
            kinds[item["values"]] += item["counts"]
        skip = [k for k in (NULL_KEY, REJECTED_UNCHANGED) if any(i["values"] == k for i in counts)]
        if skip:
            table = table.filter(pc.invert(pc.is_in(change, pa.array(skip))))
        return table if table.num_rows else None

    def _settle_counts(self, kinds: Counter) -> None:
        result = self.result
        null_keys = kinds.get(NULL_KEY, 0)
        if null_keys:
            result.rejected += null_keys
            result.error = _join(result.error, (
                f"{null_keys} row(s) of {self.config.schema}.{self.config.model} have a null "
                f"{self.config.primary_key!r} (the primary key) and cannot be sent"))
        result.skipped_rejected = kinds.get(REJECTED_UNCHANGED, 0)
        if not self.full:
            in_model = sum(v for k, v in kinds.items() if k != REMOVED)
            # unchanged rows were not streamed; redelivered ones count as sent, not skipped
            result.skipped_already_sent = max(
                0, result.rows_considered - in_model - self.redelivered_in_model)

    # -- commit groups --------------------------------------------------------------------
    def _dispatch(self, tables: list[tuple[pa.Table, str]], inflight: _Group | None) -> _Group | None:
        """Prepare a group (outbox + pending), hand its batches over; finish the previous group."""
        with self.phase("prepare"):
            group = self._make_group(tables)
            self._check_duplicates(group)
        for b in group.batches:
            fault_point("before_pending", b.batch.seq)
        with self.phase("outbox"):
            self.ledger.begin_group(self.result.run_id, group.rows,
                                    [(b.batch.batch_id, b.batch.seq, b.batch.operation, b.batch.num_rows)
                                     for b in group.batches],
                                    self.plan.payload_types, utcnow(), customer_column=self.plan.customer_column)
        for b in group.batches:
            fault_point("after_pending", b.batch.seq)
        with self.phase("send" if self.pool is None else "submit"):
            self._submit(group)
        if self.pool is None:  # one at a time: deterministic order, no overlap
            self._finish(group)
            return None
        if inflight is not None:
            self._finish(inflight)
        return group

    def _make_group(self, tables: list[tuple[pa.Table, str]]) -> _Group:
        """One table for the whole group (batch id and operation per row, meta
        columns typed for the ledger), cut into zero-copy batch slices. Column
        operations run once per group, not once per batch: the main thread
        shares the interpreter with the sender threads."""
        payload = list(self.plan.payload)
        meta_schema = version_meta(self.plan.dialect)
        sizes = [t.num_rows for t, _ in tables]
        ids, ops = [], []
        for _, operation in tables:
            self.seq += 1
            ids.append(f"{self.result.run_id}-{self.seq:05d}")
            ops.append(operation)
        first_seq = self.seq - len(tables) + 1
        whole = pa.concat_tables([t for t, _ in tables], promote_options="permissive") if len(tables) > 1 \
            else tables[0][0]
        index = pa.array(np.repeat(np.arange(len(tables), dtype=np.int32), sizes))
        whole = whole.append_column(BATCH_ID, pc.take(pa.array(ids, pa.string()), index)) \
                     .append_column(OP, pc.take(pa.array(ops, pa.string()), index))
        whole = whole.select(payload + [f.name for f in meta_schema] + [KEY_HASH, CHANGE])
        # the meta columns with their ledger types (PostgreSQL hands back all-null columns untyped)
        for f in meta_schema:
            i = whole.schema.get_field_index(f.name)
            if whole.schema.field(i).type != f.type:
                whole = whole.set_column(i, f.name, whole.column(i).cast(f.type))
        # change kinds per batch (for the counts), without a loop over batches
        kinds = pc.dictionary_encode(whole.column(CHANGE).combine_chunks())
        names = kinds.dictionary.to_pylist()
        codes = np.asarray(kinds.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        per_batch = np.bincount(np.repeat(np.arange(len(tables)), sizes) * len(names) + codes,
                                minlength=len(tables) * len(names)).reshape(len(tables), len(names)) \
            if names else np.zeros((len(tables), 0), dtype=np.int64)
        whole = whole.drop_columns([CHANGE])
        json_cache = _GroupJson(whole.select(payload))
        keys = whole.column(KEY)
        batches, offset = [], 0
        for i, (n, batch_id, operation) in enumerate(zip(sizes, ids, ops)):
            part_keys = keys.slice(offset, n)
            batch = Batch(batch_id=batch_id, seq=first_seq + i, rows=whole.slice(offset, n).select(payload),
                          keys=part_keys.chunk(0) if part_keys.num_chunks == 1 else part_keys.combine_chunks(),
                          operation=operation, json_cache=(json_cache, offset))
            counts = Counter({names[j]: int(c) for j, c in enumerate(per_batch[i]) if c})
            batches.append(_SentBatch(batch=batch, kind_counts=counts))
            offset += n
        return _Group(rows=GroupRows(table=whole, batch_ids=tuple(ids)), batches=batches)

    def _check_duplicates(self, group: _Group) -> None:
        """A key twice in the model would be sent twice: within this group, or
        again after an earlier group of this run. A 64-bit hash of each key
        finds candidates (sorted arrays, no per-row Python); the keys decide."""
        table = group.rows.table
        raw = np.asarray(table.column(KEY_HASH).to_numpy())
        hashes = raw.view(np.uint64) if raw.dtype == np.int64 else raw.astype(np.uint64, copy=False)
        ordered = np.sort(hashes)
        keys_col = table.column(KEY)
        dups: list[str] = []
        same = ordered[1:] == ordered[:-1]
        if same.any():
            mask = np.isin(hashes, ordered[1:][same])
            counted = Counter(keys_col.filter(pa.array(mask)).to_pylist())
            dups = [k for k, n in counted.items() if n > 1]
        seen = self.seen_hashes[0] if self.seen_hashes else None
        if not dups and seen is not None and len(seen):
            idx = np.minimum(np.searchsorted(seen, ordered), len(seen) - 1)
            hits = seen[idx] == ordered
            if hits.any():
                mask = np.isin(hashes, ordered[hits])
                candidates = sorted(set(keys_col.filter(pa.array(mask)).to_pylist()))
                dups = self.ledger.find_keys_of_run(self.result.run_id, candidates[:1000])
        if dups:
            raise ValueError(f"primary key is not unique in the model: duplicated keys such as {sorted(dups)[:5]}")
        if len(ordered):
            # one sorted array of every key hash of this run: two sorted runs merge in linear time
            merged = ordered if seen is None else np.concatenate([seen, ordered])
            if seen is not None:
                merged.sort(kind="stable")
            self.seen_hashes = [merged]

    def _submit(self, group: _Group) -> None:
        for sent in group.batches:
            if self.pool is None:
                self._send(sent)
            else:
                sent.future = self.pool.submit(self._send, sent)

    def _send(self, sent: _SentBatch) -> None:
        """Hand one batch over (worker thread); never raises."""
        batch = sent.batch
        if self.abort.is_set():
            sent.status = "skipped"
            return
        try:
            sent.outcome = self.dest.send_batch(batch)
            sent.status = "sent"
        except Exception as exc:  # noqa: BLE001 - recorded on the batch
            self.abort.set()
            sent.error = f"{type(exc).__name__}: {exc}"
            # the batch may have landed before the error (e.g. file written, manifest not)
            try:
                delivered = self.dest.batch_delivered(batch.batch_id)
            except Exception:  # noqa: BLE001 - cannot tell
                delivered = False
            if delivered:
                sent.status, sent.error, sent.outcome = "sent", None, None
            elif getattr(self.dest, "confirms_delivery", False) or _refused(sent.error):
                sent.status = "failed"  # it certainly did not arrive: its rows travel again
            else:
                # a time-out or a 5xx may hide a batch the receiver did apply: keep it
                # pending, to be redelivered under the same id (Idempotency-Key) next run
                sent.status = "uncertain"
                sent.error += "; not confirmed: redelivered under the same batch id on the next run"
            return
        fault_point("after_send", batch.seq)

    def _finish(self, group: _Group) -> None:
        """Wait for a group's batches, then record their outcomes in one transaction."""
        futures = [b.future for b in group.batches if b.future is not None]
        with self.phase("wait"):
            while futures:
                done, not_done = wait(futures, timeout=PROGRESS_EVERY_S, return_when=FIRST_COMPLETED)
                futures = list(not_done)
                self._report()
        with self.phase("commit"):
            self._commit(group)
        for b in group.batches:
            fault_point("after_mark", b.batch.seq)

    def _commit(self, group: _Group, *, recovery: bool = False) -> tuple[int, int]:
        """Record a group's outcomes; update the counts. Returns (delivered rows, delivered rows in the model)."""
        result = self.result
        results = pa.table(
            [[b.batch.batch_id for b in group.batches], [b.status for b in group.batches],
             [b.error[:1000] if b.error else None for b in group.batches]], schema=BATCH_RESULT_SCHEMA)
        outcome_tables = [b.outcome.row_outcomes for b in group.batches
                          if b.status == "sent" and b.outcome is not None and b.outcome.row_outcomes is not None
                          and b.outcome.row_outcomes.num_rows]
        outcomes = pa.concat_tables([t.select(OUTCOME_SCHEMA.names).cast(OUTCOME_SCHEMA) for t in outcome_tables]) \
            if outcome_tables else None
        at = utcnow()
        self.ledger.commit_group(result.run_id, group.rows, results, outcomes, keep_versions=self.keep_versions,
                                 commit_seq=self.commit_seq, at=at, exact=recovery,
                                 record_clean=self.config.mode == "insert")
        self.commit_seq += 1
        delivered = in_model = 0
        errors = []
        for b in group.batches:
            n = b.batch.num_rows
            if b.status == "skipped":
                continue
            result.batches += 1
            self.progress.batches += 1
            self.progress.handed_over += n
            if b.status in ("failed", "uncertain"):
                result.failed += n
                self.progress.failed += n
                errors.append(f"batch {b.batch.batch_id} ({n} rows): {b.error}")
                continue
            rejected = failed = 0
            if b.outcome is not None:
                if b.outcome.row_outcomes is not None and b.outcome.row_outcomes.num_rows:
                    statuses = b.outcome.row_outcomes.column("status").to_pylist()
                    rejected, failed = statuses.count("rejected"), statuses.count("failed")
                for output in b.outcome.outputs:
                    self.outputs.setdefault(output, None)
            ok = n - rejected - failed
            result.sent += ok
            result.rejected += rejected
            result.failed += failed
            self.progress.sent += ok
            self.progress.rejected += rejected
            self.progress.failed += failed
            delivered += n
            if not recovery:
                result.added += b.kind_counts.get(ADDED, 0)
                result.changed += b.kind_counts.get(CHANGED, 0)
                result.removed += b.kind_counts.get(REMOVED, 0)
            if b.batch.operation != "delete":
                in_model += n
        if errors:
            skipped = sum(b.batch.num_rows for b in group.batches if b.status == "skipped")
            message = "; ".join(errors[:3]) + (f"; {len(errors) - 3} more" if len(errors) > 3 else "")
            if skipped:
                message += f"; {skipped} rows of the group not handed over"
            result.error = _join(result.error, message)
        self._report()
        return delivered, in_model

    def _report(self) -> None:
        if self.reporter is None:
            return
        now = time.perf_counter()
        if now - self._last_report >= PROGRESS_EVERY_S:
            self._last_report = now
            self.reporter(self.progress)

    # -- recovery -------------------------------------------------------------------------
    def _recover(self) -> None:
        """Batches an interrupted run left pending: commit the delivered ones,
        redeliver the others from the outbox under the same batch id."""
        pending = self.ledger.pending_group_batches()
        if not pending:
            return
        outbox = self.ledger.load_outbox((b["batch_id"] for b in pending), customer_column=self.plan.customer_column)
        by_batch: dict[str, pa.Table] = {}
        if outbox.num_rows:
            ids = outbox.column(BATCH_ID)
            for b in pending:
                by_batch[b["batch_id"]] = outbox.filter(pc.equal(ids, b["batch_id"]))
        found, resend = [], []
        for b in pending:
            rows = by_batch.get(b["batch_id"])
            if rows is None or rows.num_rows == 0:
                found.append((b, None))  # nothing left to deliver (e.g. rows already recorded)
            elif self.dest.batch_delivered(b["batch_id"]):
                found.append((b, rows))
            else:
                resend.append((b, rows))
        if found:
            group = self._recovery_group(found)
            for sent in group.batches:
                sent.status = "sent"
            delivered, _ = self._commit(group, recovery=True)
            self.result.sent -= delivered  # found delivered: counted as recovered, not as sent by this run
            self.progress.sent -= delivered
            self.result.recovered += delivered
            for b, rows in found:
                log.warning("sync %s: batch %s (%d rows) was delivered before an interruption",
                            self.config.name, b["batch_id"], rows.num_rows if rows is not None else 0)
        if resend:
            group = self._recovery_group(resend)
            self._submit(group)
            futures = [b.future for b in group.batches if b.future is not None]
            if futures:
                wait(futures)
            # a batch whose redelivery failed (or was not tried after a failure) may still
            # have arrived before the interruption: it stays pending, to go out again under
            # the same id; only what the destination refused outright gives up its id
            stuck = [b for b in group.batches
                     if b.status in ("skipped", "uncertain") or (b.status == "failed" and not _refused(b.error))]
            if stuck:
                failed = next((b for b in stuck if b.error), stuck[0])
                names = ", ".join(b.batch.batch_id for b in stuck[:3])
                done = [b for b in group.batches if b not in stuck]
                if done:
                    self._commit(_Group(rows=self._subset(group, done), batches=done), recovery=True)
                raise RuntimeError(
                    f"{len(stuck)} batch(es) of an interrupted run could not be redelivered ({names}: "
                    f"{failed.error or 'not attempted'}); they stay pending and are redelivered first on the next run")
            for b in group.batches:
                if b.status == "failed":
                    b.error = f"redelivery refused, rows travel again: {b.error}"
            delivered, in_model = self._commit(group, recovery=True)
            self.result.redelivered += delivered
            self.redelivered_in_model += in_model
            self.abort.clear()  # refused batches travel again in this run
            log.warning("sync %s: redelivered %d rows of %d interrupted batch(es)", self.config.name, delivered,
                        len(resend))

    def _recovery_group(self, items: list[tuple[dict[str, Any], pa.Table | None]]) -> _Group:
        tables, batches = [], []
        for b, rows in items:
            columns = [c for c in (b["columns"] or self.plan.payload)]
            if rows is None:
                rows = _empty_rows(columns, self.plan.dialect)
            meta_schema = version_meta(self.plan.dialect)
            rows = rows.select(columns + [f.name for f in meta_schema])
            for f in meta_schema:  # PostgreSQL hands back all-null columns untyped
                i = rows.schema.get_field_index(f.name)
                if rows.schema.field(i).type != f.type:
                    rows = rows.set_column(i, f.name, rows.column(i).cast(f.type))
            batch = Batch(batch_id=b["batch_id"], seq=b["seq"], rows=rows.select(columns),
                          keys=rows.column(KEY).combine_chunks(), operation=b["operation"])
            batches.append(_SentBatch(batch=batch, kind_counts=Counter()))
            tables.append(rows.select([f.name for f in VERSION_META]))
        meta = pa.concat_tables(tables) if tables else version_meta(self.plan.dialect).empty_table()
        return _Group(rows=GroupRows(table=meta, batch_ids=tuple(b.batch.batch_id for b in batches)),
                      batches=batches)

    @staticmethod
    def _subset(group: _Group, batches: list[_SentBatch]) -> GroupRows:
        ids = pa.array([b.batch.batch_id for b in batches])
        table = group.rows.table.filter(pc.is_in(group.rows.table.column(BATCH_ID), ids))
        return GroupRows(table=table, batch_ids=tuple(b.batch.batch_id for b in batches))

    def _recover_legacy(self) -> None:
        """Batches the first engine version left 'pending' in sync_records."""
        for batch_id, rows in self.ledger.legacy_pending_batches():
            at = utcnow()
            if self.dest.batch_delivered(batch_id):
                self.ledger.mark_batch_sent(batch_id, at, reason="recovered: delivered before an interruption")
                self.result.recovered += rows
            else:
                self.ledger.mark_batch_undelivered(
                    batch_id, "interrupted before delivery; sent again while still in the model", at)


class _Rebatcher:
    """Cuts streamed rows into batches of exactly ``size`` rows per operation
    (filtered rows and mixed upsert/delete rows would otherwise leave ragged
    batches). Zero-copy when the stream already hands over full batches."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: dict[str, list[pa.Table]] = {}
        self.rows: dict[str, int] = {}

    def add(self, operation: str, table: pa.Table) -> list[pa.Table]:
        parts = self.parts.setdefault(operation, [])
        if not parts and table.num_rows == self.size:
            return [table]
        parts.append(table)
        self.rows[operation] = self.rows.get(operation, 0) + table.num_rows
        if self.rows[operation] < self.size:
            return []
        whole = pa.concat_tables(parts, promote_options="permissive")
        out = []
        while whole.num_rows >= self.size:
            out.append(whole.slice(0, self.size))
            whole = whole.slice(self.size)
        self.parts[operation] = [whole] if whole.num_rows else []
        self.rows[operation] = whole.num_rows
        return out

    def flush(self) -> list[tuple[pa.Table, str]]:
        out = []
        for operation, parts in self.parts.items():
            if self.rows.get(operation):
                out.append((pa.concat_tables(parts, promote_options="permissive"), operation))
        self.parts, self.rows = {}, {}
        return out


class _Prefetch:
    """Iterates a generator on a background thread, a few items ahead.

    The generator runs (and is closed) on that thread only; errors are raised
    in the consumer. Used for the warehouse stream, whose connection nothing
    else touches meanwhile.
    """

    _END = object()

    def __init__(self, source: Iterator[Any], depth: int = 2) -> None:
        import queue

        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name="kairos-read", daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[Any]) -> None:
        import queue

        item: Any = self._END
        try:
            for value in source:
                while not self._stop.is_set():
                    try:
                        self._queue.put(value, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            item = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        import queue

        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


def _read_rows(batch_size: int) -> int:
    """Rows per batch read from the warehouse: big enough to keep Python out of
    the way, small enough that read-ahead holds little memory (the rebatcher
    assembles destination batches of any size from them)."""
    return min(max(batch_size, READ_MIN_ROWS), READ_MAX_ROWS)


def _timed(items: Any, phase: _Phases, name: str) -> Iterator[Any]:
    """Yield from ``items``, adding the time spent waiting for each to ``phase``."""
    iterator = iter(items)
    while True:
        with phase(name):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def _refused(error: str | None) -> bool:
    """A redelivery the destination refused outright (HTTP 4xx other than 408/409/425/429)."""
    if not error:
        return False
    import re

    match = re.search(r"HTTP (\d{3})", error)
    return bool(match) and 400 <= int(match.group(1)) < 500 and int(match.group(1)) not in (408, 409, 425, 429)


def _empty_rows(columns: list[str], dialect: str) -> pa.Table:
    meta = version_meta(dialect)
    arrays = [pa.array([], pa.string()) for _ in columns] + [pa.array([], f.type) for f in meta]
    return pa.table(arrays, names=columns + [f.name for f in meta])


# -- helpers ------------------------------------------------------------------

def _concurrency(config: SyncConfig, dest_cls: type[Destination]) -> int:
    if config.concurrency:
        return int(config.concurrency)
    option = config.destination.options.get("concurrency")
    if isinstance(option, int) and not isinstance(option, bool) and option > 0:
        return option
    return max(1, int(getattr(dest_cls, "default_concurrency", 1)))


def _counts(result: SyncResult) -> dict[str, Any]:
    return {k: getattr(result, k) for k in
            ("rows_considered", "sent", "rejected", "failed", "skipped_already_sent", "recovered", "added",
             "changed", "removed", "skipped_rejected", "redelivered", "batches", "rows_per_second",
             "rejection_rate", "alert")}


def _join(first: str | None, second: str | None) -> str | None:
    if not first:
        return second
    if not second:
        return first
    return f"{first}; {second}"


def _early_failure(result: SyncResult, started: float, message: str) -> SyncFailed:
    result.status, result.error = "failed", message
    result.duration_s = round(time.perf_counter() - started, 3)
    return SyncFailed(result)


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _thread_lock(name: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(name, threading.Lock())


def _pg_lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"kairos.sync:{name}".encode()).digest()[:8], "big", signed=True)


def _pg_lock(wh: Warehouse, name: str) -> bool:
    """Session advisory lock on PostgreSQL (released by the server if the process dies)."""
    if wh.dialect != "postgres":
        return False
    return bool(wh.scalar("select pg_try_advisory_lock(?)", [_pg_lock_key(name)]))


def _pg_unlock(wh: Warehouse, name: str) -> None:
    try:
        wh.scalar("select pg_advisory_unlock(?)", [_pg_lock_key(name)])
    except Exception:  # noqa: BLE001 - the lock dies with the session anyway
        log.warning("sync %s: could not release the advisory lock", name)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


__all__ = ["Progress", "SyncFailed", "SyncResult", "new_run_id", "run_sync", "stderr_progress"]
