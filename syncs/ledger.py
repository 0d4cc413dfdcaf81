"""The sync ledger in schema ``ops``: what was sent where, what each
destination holds, and every run.

Tables
======

``ops.sync_records``: AT MOST ONE CURRENT ROW per ``(sync_name, record_key)``,
the per-record outcome of the last hand-over. Insert-mode syncs (messages)
record every record: it is the contact history. Upsert and mirror syncs
(audiences, profiles) record a record only once a hand-over of it needed a
note: refused, failed, or answered with a status code, reason or message id
(the row then stays and follows later hand-overs). A clean delivery of theirs
is already in the snapshot (the version, tagged with its batch; the batch's
``finished_at`` is the delivery time): writing every row a second time would
double the cost of a full sync. :func:`read_records` returns both::

    (new) -> sent | rejected | failed
    sent/rejected/failed -> sent | rejected | failed      (a resend: --full, changed row, retry)

==========================  ==========================================================
sync_name, record_key       the sync and the record's idempotency key (its primary key)
status                      'sent' (delivered), 'rejected' (refused for good by the
                            destination: not retried until the row changes), 'failed'
                            (not delivered; travels again next run). 'pending' only
                            appears in ledgers written by the first engine version.
operation                   what was delivered: 'insert', 'upsert' or 'delete' (a
                            mirror-mode removal)
customer_key, channel,      copied from the source row when the model has such
scenario_id                 columns (channel falls back to the definition's
                            ``channel``); null otherwise
run_id, batch_id            the run and batch that last handed the record over
row_hash                    for 'rejected' rows: the hash of the refused payload (the
                            row travels again only once it changes); null otherwise
                            (the snapshot keeps the hash of what was delivered)
status_code, reason,        per-row answer of the destination, when it gives one
destination_message_id
first_sent_at, sent_at      first and latest delivery (UTC); kept across resends
attempts                    how many times the record was handed over
updated_at                  last change (UTC); for status 'sent' it equals sent_at
==========================  ==========================================================

In SQL, the clean deliveries of an audience sync ``s`` are::

    select v._kairos_record_key, v._kairos_op, b.run_id, b.batch_id, b.finished_at as sent_at
    from ops.sync_snapshot__s as v
    join ops.sync_batches as b on b.sync_name = 's' and b.batch_id = v._kairos_batch_id and b.status = 'sent'
    where v._kairos_record_key not in (select record_key from ops.sync_records where sync_name = 's')

Contact history for the decision layer: ``status = 'sent'`` rows, with
``updated_at``/``sent_at`` the delivery time (message intents are the
``operation = 'insert'`` rows; audience upserts and removals are not messages).

``ops.sync_batches``: one row per batch handed to a destination, with its
state ('pending' while in flight, then 'sent', 'failed' or 'skipped'), the
operation, the payload columns and ``commit_seq`` (the order in which batches
became visible, the pull feeds' cursor).

``ops.sync_snapshot__<sync>`` (one per sync, payload columns typed as in the
model): the rows as the destination last received them. Each row is a
*version* of a record tagged with the batch that carried it:

* versions of 'sent' batches are the snapshot: what the destination holds now
  (``_kairos_op = 'delete'`` rows are tombstones of removed records, kept for
  the feeds' deltas); change detection compares the model with them;
* versions of 'pending' batches are the outbox: written BEFORE the batch is
  handed over, so an interrupted batch can be redelivered byte for byte under
  the same batch id (idempotency key) after a crash.

``ops.sync_runs``: one row per run (dry runs included) with its counts.

Every write here is a set-based statement over a whole group of batches (a
*commit group*, see ``engine``): the group's rows are staged as Arrow, then a
few statements apply them in one transaction. No statement per record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kairos.warehouse import Warehouse, qualified, quote_ident

SCHEMA = "ops"
RUNS = "sync_runs"
RECORDS = "sync_records"
BATCHES = "sync_batches"
SNAPSHOT_PREFIX = "sync_snapshot__"

PENDING, SENT, REJECTED, FAILED, SKIPPED, UNCERTAIN = "pending", "sent", "rejected", "failed", "skipped", "uncertain"

#: meta columns the engine streams next to the payload (prefix ``_kairos_``)
META_PREFIX = "_kairos_"
KEY = "_kairos_record_key"
ROW_HASH = "_kairos_row_hash"
BATCH_ID = "_kairos_batch_id"
OP = "_kairos_op"
CUSTOMER = "_kairos_customer_key"
CHANNEL = "_kairos_channel"
SCENARIO = "_kairos_scenario_id"
IN_LEDGER = "_kairos_in_ledger"
IN_SNAPSHOT = "_kairos_in_snapshot"

#: meta columns stored with every snapshot version, in order, with their types
VERSION_META = pa.schema(
    [
        (KEY, pa.string()),
        (ROW_HASH, pa.string()),
        (BATCH_ID, pa.string()),
        (OP, pa.string()),
        (CUSTOMER, pa.string()),
        (CHANNEL, pa.string()),
        (SCENARIO, pa.string()),
        (IN_LEDGER, pa.bool_()),
        (IN_SNAPSHOT, pa.bool_()),
    ]
)
# high-cardinality text: DuckDB spends most of an insert analysing these for
# compression; stored plainly they write several times faster
_PLAIN_META = {KEY, ROW_HASH, CUSTOMER}


def version_meta(dialect: str) -> pa.Schema:
    """:data:`VERSION_META` for a warehouse: DuckDB keeps the row hash as the
    native unsigned 64-bit ``hash()``, PostgreSQL as md5 text."""
    if dialect != "duckdb":
        return VERSION_META
    return VERSION_META.set(VERSION_META.get_field_index(ROW_HASH), pa.field(ROW_HASH, pa.uint64()))

#: kept for callers of the first engine version (per-batch key table)
KEY_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("customer_key", pa.string()),
        ("channel", pa.string()),
        ("scenario_id", pa.string()),
        ("row_hash", pa.string()),
    ]
)

#: per-row outcomes as the engine stages them for :meth:`Ledger.commit_group`
OUTCOME_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("status", pa.string()),
        ("status_code", pa.int32()),
        ("reason", pa.string()),
        ("destination_message_id", pa.string()),
    ]
)
#: per-batch results for :meth:`Ledger.commit_group`
BATCH_RESULT_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        # sent | failed | skipped | uncertain (failed, but it may have arrived: stays
        # pending, outbox kept, to be redelivered under the same id by the next run)
        ("status", pa.string()),
        ("error", pa.string()),
    ]
)

_RUNS_DDL = """
create table if not exists {t} (
    run_id varchar primary key,
    sync_name varchar not null,
    mode varchar not null,
    full_refresh boolean not null,
    status varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    duration_s double precision,
    rows_considered bigint,
    sent bigint,
    rejected bigint,
    failed bigint,
    skipped_already_sent bigint,
    recovered bigint,
    outputs varchar,
    error varchar
)"""
# columns added after the first version; added to existing tables too
_RUNS_EXTRA = {
    "added": "bigint", "changed": "bigint", "removed": "bigint", "skipped_rejected": "bigint",
    "redelivered": "bigint", "batches": "bigint", "rows_per_second": "double precision",
    "rejection_rate": "double precision", "alert": "varchar",
}

_RECORDS_DDL = """
create table if not exists {t} (
    sync_name varchar not null,
    record_key varchar{plain} not null,
    status varchar not null,
    customer_key varchar{plain},
    channel varchar,
    scenario_id varchar,
    run_id varchar not null,
    batch_id varchar not null,
    row_hash varchar{plain},
    status_code integer,
    reason varchar,
    destination_message_id varchar,
    first_sent_at timestamp,
    sent_at timestamp,
    attempts integer not null,
    updated_at timestamp not null,
    operation varchar{primary_key}
)"""

_BATCHES_DDL = """
create table if not exists {t} (
    sync_name varchar not null,
    batch_id varchar not null,
    run_id varchar not null,
    seq integer not null,
    operation varchar not null,
    status varchar not null,
    rows bigint not null,
    columns varchar,
    commit_seq bigint,
    created_at timestamp not null,
    finished_at timestamp,
    error varchar{primary_key}
)"""


def utcnow() -> dt.datetime:
    """Now in UTC as a naive timestamp (the warehouse convention)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def ensure_ledger(warehouse: Warehouse) -> None:
    """Create schema ``ops`` and the ledger tables if they are missing (idempotent)."""
    if warehouse.dialect == "duckdb":
        _create_ledger(warehouse)
        return
    # concurrent "create ... if not exists" can still collide on PostgreSQL
    # (syncs starting in parallel): serialise the DDL with a transaction lock
    with warehouse.transaction():
        warehouse.scalar("select pg_advisory_xact_lock(?)", [_DDL_LOCK_KEY])
        _create_ledger(warehouse)


_DDL_LOCK_KEY = 0x6B6169726F73  # "kairos"


def _create_ledger(warehouse: Warehouse) -> None:
    duck = warehouse.dialect == "duckdb"
    warehouse.ensure_schema(SCHEMA)
    runs = qualified(SCHEMA, RUNS)
    warehouse.execute(_RUNS_DDL.format(t=runs))
    have = set(warehouse.columns(SCHEMA, RUNS))
    for column, sql_type in _RUNS_EXTRA.items():
        if column not in have:  # ledgers created by the first engine version
            warehouse.execute(f"alter table {runs} add column if not exists {quote_ident(column)} {sql_type}")
    # One row per (sync_name, record_key), kept so by the engine (one run per
    # sync at a time, update-then-insert). PostgreSQL also enforces it with a
    # primary key; DuckDB holds ART indexes in memory, which would grow with
    # the whole contact history, so it goes without.
    records = qualified(SCHEMA, RECORDS)
    warehouse.execute(_RECORDS_DDL.format(
        t=records, plain=" using compression uncompressed" if duck else "",
        primary_key="" if duck else ",\n    primary key (sync_name, record_key)"))
    if "operation" not in warehouse.columns(SCHEMA, RECORDS):  # first engine version
        warehouse.execute(f"alter table {records} add column if not exists operation varchar")
    warehouse.execute(_BATCHES_DDL.format(
        t=qualified(SCHEMA, BATCHES), primary_key="" if duck else ",\n    primary key (sync_name, batch_id)"))
    if not duck:
        warehouse.execute(
            f"create index if not exists sync_records_pending on {records} "
            "(sync_name, batch_id) where status = 'pending'"
        )
        warehouse.execute(f"create index if not exists sync_runs_by_sync on {runs} (sync_name, started_at)")
        warehouse.execute(
            f"create index if not exists sync_batches_pending on {qualified(SCHEMA, BATCHES)} "
            "(sync_name) where status = 'pending'"
        )


def snapshot_table_name(sync_name: str) -> str:
    """``sync_snapshot__<sync>``, shortened with a hash when the name is long."""
    name = f"{SNAPSHOT_PREFIX}{sync_name}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(sync_name.encode()).hexdigest()[:12]
    return f"{SNAPSHOT_PREFIX}{sync_name[:63 - len(SNAPSHOT_PREFIX) - 13]}_{digest}"


# SQL types we write into DDL as the database reported them; anything else
# (quoted enum labels, struct field names with odd characters) is refused
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_ ,()\[\]]+$")
_SCALAR_DUCK = re.compile(
    r"^(VARCHAR|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|"
    r"DATE|TIMESTAMP|DECIMAL\(\d+,\d+\))$"
)


@dataclass(frozen=True)
class GroupRows:
    """The rows of one commit group as the engine holds them (payload + meta)."""

    table: pa.Table  # payload columns + VERSION_META columns
    batch_ids: tuple[str, ...]


class Ledger:
    """Ledger operations for one sync, on the connection that writes."""

    def __init__(self, warehouse: Warehouse, sync_name: str) -> None:
        self.wh = warehouse
        self.sync_name = sync_name
        self.records = qualified(SCHEMA, RECORDS)
        self.runs = qualified(SCHEMA, RUNS)
        self.batches = qualified(SCHEMA, BATCHES)
        self.snapshot_name = snapshot_table_name(sync_name)
        self.snapshot = qualified(SCHEMA, self.snapshot_name)
        # kept for the first engine version's stage (dropped at the end of a run)
        self.stage = qualified(SCHEMA, f"_sync_stage_{hashlib.sha1(sync_name.encode()).hexdigest()[:12]}")

    # -- runs -----------------------------------------------------------------
    def start_run(self, run_id: str, mode: str, full: bool, status: str, started_at: dt.datetime) -> None:
        self.wh.execute(
            f"insert into {self.runs} (run_id, sync_name, mode, full_refresh, status, started_at) values (?, ?, ?, ?, ?, ?)",
            [run_id, self.sync_name, mode, full, status, started_at],
        )

    def finish_run(self, run_id: str, *, status: str, counts: dict[str, Any], duration_s: float,
                   outputs: Sequence[str], error: str | None) -> None:
        extra = [c for c in _RUNS_EXTRA if c in counts]
        sets = "".join(f", {quote_ident(c)} = ?" for c in extra)
        self.wh.execute(
            f"update {self.runs} set status = ?, finished_at = ?, duration_s = ?, rows_considered = ?, sent = ?, "
            f"rejected = ?, failed = ?, skipped_already_sent = ?, recovered = ?, outputs = ?, error = ?{sets} "
            "where run_id = ?",
            [status, utcnow(), duration_s, counts["rows_considered"], counts["sent"], counts["rejected"],
             counts["failed"], counts["skipped_already_sent"], counts["recovered"], json.dumps(list(outputs)),
             error, *[counts[c] for c in extra], run_id],
        )

    def close_interrupted_runs(self, by_run_id: str) -> int:
        """Runs of this sync still 'running' died without finishing (one sync runs at a time)."""
        n = self.wh.scalar(f"select count(*) from {self.runs} where sync_name = ? and status = 'running' and run_id <> ?",
                           [self.sync_name, by_run_id])
        if n:
            self.wh.execute(
                f"update {self.runs} set status = 'interrupted', finished_at = ?, "
                "error = coalesce(error, ?) where sync_name = ? and status = 'running' and run_id <> ?",
                [utcnow(), f"process ended mid-run; in-flight batches resolved by run {by_run_id}", self.sync_name, by_run_id],
            )
        return int(n or 0)

    def next_commit_seq(self) -> int:
        """The first free ``commit_seq`` of this sync (its batches commit in this order)."""
        return int(self.wh.scalar(f"select coalesce(max(commit_seq), 0) + 1 from {self.batches} where sync_name = ?",
                                  [self.sync_name]) or 1)

    # -- the snapshot table ------------------------------------------------------
    def ensure_snapshot(self, payload_types: Sequence[tuple[str, str]], *, evolve: bool = True) -> None:
        """Create this sync's snapshot table, or add payload columns it lacks.

        ``payload_types`` are ``(column, SQL type)`` as the warehouse describes
        the payload. A column whose type changed is replaced (its old values
        become null): the row hash covers the types, so every row travels
        again anyway and the snapshot refills.
        """
        duck = self.wh.dialect == "duckdb"
        for name, sql_type in payload_types:
            quote_ident(name)
            if not _SAFE_TYPE.match(sql_type):
                raise ValueError(f"column {name!r} has type {sql_type!r}, which the snapshot cannot store; "
                                 "cast it in the sync model")
        existing = dict(self.wh.fetchall(
            "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
            [SCHEMA, self.snapshot_name]))
        if existing and not evolve:
            return
        if not existing:
            cols = []
            for f in version_meta(self.wh.dialect):
                sql_type = ("boolean" if pa.types.is_boolean(f.type) else "ubigint" if pa.types.is_uint64(f.type)
                            else "varchar")
                plain = " using compression uncompressed" if duck and f.name in _PLAIN_META else ""
                cols.append(f"{quote_ident(f.name)} {sql_type}{plain}")
            for name, sql_type in payload_types:
                cols.append(f"{quote_ident(name)} {sql_type}{self._plain(sql_type)}")
            self.wh.execute(f"create table if not exists {self.snapshot} ({', '.join(cols)})")
            if not duck:
                self.wh.execute(f"create index if not exists {quote_ident(self.snapshot_name[:50] + '_key')} "
                                f"on {self.snapshot} ({quote_ident(KEY)})")
                self.wh.execute(f"create index if not exists {quote_ident(self.snapshot_name[:50] + '_batch')} "
                                f"on {self.snapshot} ({quote_ident(BATCH_ID)})")
            return
        described = dict(self.wh.describe(f"select * from {self.snapshot}")) if duck else None
        for name, sql_type in payload_types:
            if name not in existing:
                self.wh.execute(f"alter table {self.snapshot} add column {quote_ident(name)} {sql_type}")
                continue
            current = described[name] if described is not None else self._pg_type(name)
            if current is not None and current.lower() != sql_type.lower():
                self.wh.execute(f"alter table {self.snapshot} drop column {quote_ident(name)}")
                self.wh.execute(f"alter table {self.snapshot} add column {quote_ident(name)} {sql_type}")

    def _plain(self, sql_type: str) -> str:
        if self.wh.dialect == "duckdb" and _SCALAR_DUCK.match(sql_type.upper()):
            return " using compression uncompressed"
        return ""

    def _pg_type(self, column: str) -> str | None:
        return self.wh.scalar(
            "select format_type(a.atttypid, a.atttypmod) from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = ? and c.relname = ? and a.attname = ? "
            "and not a.attisdropped", [SCHEMA, self.snapshot_name, column])

    def snapshot_columns(self) -> list[str]:
        """Payload columns the snapshot table holds (meta columns left out)."""
        return [c for c in self.wh.columns(SCHEMA, self.snapshot_name) if not c.startswith(META_PREFIX)]

    # -- a commit group: pending, then committed ------------------------------------
    def begin_group(self, run_id: str, group: GroupRows, batches: Sequence[tuple[str, int, str, int]],
                    payload_types: Sequence[tuple[str, str]], at: dt.datetime,
                    customer_column: str | None = None) -> None:
        """Write the group's rows to the outbox and its batches as 'pending',
        in one transaction, BEFORE anything is handed to the destination.

        ``batches``: ``(batch_id, seq, operation, rows)``; ``payload_types``:
        ``(column, SQL type)`` of the payload (values are cast to them).
        ``customer_column``: a payload column holding the customer key; the
        snapshot then does not store it twice (readers take it from there).
        """
        meta = [f.name for f in VERSION_META]
        data = group.table.select([name for name, _ in payload_types] + meta)
        col_list = ", ".join(quote_ident(c) for c in data.column_names)
        select = ", ".join([f"cast(g.{quote_ident(name)} as {sql_type})" for name, sql_type in payload_types]
                           + ["cast(null as varchar)" if c == CUSTOMER and customer_column else f"g.{quote_ident(c)}"
                              for c in meta])
        columns_json = json.dumps([name for name, _ in payload_types])
        with self.wh.transaction():
            with self.wh.stage_arrow("_kairos_group", data) as staged:
                self.wh.execute(f"insert into {self.snapshot} ({col_list}) select {select} from {staged} as g")
            # one statement for the group's batches (hundreds of 1,000-row batches per group)
            listing = pa.table({
                "batch_id": pa.array([b[0] for b in batches], pa.string()),
                "seq": pa.array([b[1] for b in batches], pa.int64()),
                "operation": pa.array([b[2] for b in batches], pa.string()),
                "rows": pa.array([b[3] for b in batches], pa.int64()),
            })
            with self.wh.stage_arrow("_kairos_batches", listing) as staged:
                self.wh.execute(
                    f"insert into {self.batches} (sync_name, batch_id, run_id, seq, operation, status, rows, columns, "
                    f"created_at) select ?, b.batch_id, ?, b.seq, b.operation, 'pending', b.rows, ?, "
                    f"cast(? as timestamp) from {staged} as b",
                    [self.sync_name, run_id, columns_json, at],
                )

    def commit_group(self, run_id: str, group: GroupRows, results: pa.Table, outcomes: pa.Table | None,
                     *, keep_versions: bool, commit_seq: int, at: dt.datetime, exact: bool = False,
                     record_clean: bool = True) -> None:
        """Apply what happened to a group's batches, in one transaction.

        ``results`` (:data:`BATCH_RESULT_SCHEMA`): each batch 'sent'
        (delivered), 'failed' (handed over, did not arrive) or 'skipped' (not
        handed over). ``outcomes`` (:data:`OUTCOME_SCHEMA`): per-row answers
        for rows of delivered batches (rows not listed were delivered).

        Then: ``sync_records`` gets each handed-over row's outcome; versions
        that did not reach the destination leave the snapshot (the previous
        version, if any, stays current); delivered versions replace older
        ones; the batches get their final state and ``commit_seq``.
        ``keep_versions`` False (insert mode without a feed): the outbox rows
        are removed once committed. ``exact``: look up which rows the ledger
        already has instead of trusting the stream-time flag (recovery: an
        earlier attempt may have recorded them since). ``record_clean`` False
        (upsert and mirror): a record new to ``sync_records`` gets a row only
        when its hand-over needs a note (refused, failed, or answered with a
        status code, reason or message id); a clean delivery is known from its
        snapshot version and batch, and writing it twice would double the cost
        of a full sync.
        """
        statuses = dict(zip(results.column("batch_id").to_pylist(), results.column("status").to_pylist()))
        handed = [b for b, s in statuses.items() if s in (SENT, FAILED, UNCERTAIN)]
        not_live = [b for b, s in statuses.items() if s in (FAILED, SKIPPED)]
        meta = group.table.select([f.name for f in VERSION_META])
        if outcomes is None or outcomes.num_rows == 0:
            outcomes = OUTCOME_SCHEMA.empty_table()
        outcomes = outcomes.select(OUTCOME_SCHEMA.names).cast(OUTCOME_SCHEMA)
        has_outcomes = outcomes.num_rows > 0
        # which statements this group needs (column-wise: a group has up to ~10^5 rows)
        any_update = any_insert = any_supersede = False
        if handed and meta.num_rows and exact:
            any_update = any_insert = True
        elif handed and meta.num_rows:
            was_handed = pc.is_in(meta.column(BATCH_ID), value_set=pa.array(handed, pa.string()))
            in_ledger = pc.fill_null(meta.column(IN_LEDGER), False)
            any_update = bool(pc.any(pc.and_(was_handed, in_ledger)).as_py())
            any_insert = bool(pc.any(pc.and_(was_handed, pc.invert(in_ledger))).as_py())
        # upsert and mirror: records without a ledger row whose hand-over needs a note
        # first get a row for their earlier clean delivery (from the snapshot), so
        # the note keeps it (sent_at); then every existing row is matched by key
        note_new = not record_clean and any_insert and (has_outcomes or len(handed) > len(
            [b for b, s in statuses.items() if s == SENT]) or exact)
        if not record_clean:
            any_insert = note_new
            if note_new:
                exact = any_update = True
        if keep_versions and meta.num_rows:
            any_supersede = bool(pc.any(pc.fill_null(meta.column(IN_SNAPSHOT), False)).as_py())
        run_param = run_id

        with self.wh.transaction():
            with self.wh.stage_arrow("_kairos_rows", meta) as rows, \
                    self.wh.stage_arrow("_kairos_results", results.cast(BATCH_RESULT_SCHEMA)) as res, \
                    self.wh.stage_arrow("_kairos_outcomes", outcomes) as outs:
                x = (
                    f"select c.{quote_ident(KEY)} as record_key, c.{quote_ident(BATCH_ID)} as batch_id, "
                    f"c.{quote_ident(OP)} as op, case when b.status = 'sent' and o.status = 'rejected' "
                    f"then cast(c.{quote_ident(ROW_HASH)} as varchar) end as row_hash, "
                    f"c.{quote_ident(CUSTOMER)} as customer_key, c.{quote_ident(CHANNEL)} as channel, "
                    f"c.{quote_ident(SCENARIO)} as scenario_id, c.{quote_ident(IN_LEDGER)} as in_ledger, "
                    "case when b.status = 'sent' then coalesce(o.status, 'sent') end as final_status, "
                    "case when b.status = 'sent' then o.status_code end as status_code, "
                    "case when b.status = 'sent' then o.reason else b.error end as reason, "
                    "case when b.status = 'sent' then o.destination_message_id end as message_id "
                    f"from {rows} as c join {res} as b on b.batch_id = c.{quote_ident(BATCH_ID)} "
                    f"and b.status in ('sent', 'failed', 'uncertain') "
                    f"left join {outs} as o on o.record_key = c.{quote_ident(KEY)}"
                )
                notable = ("coalesce(x.final_status, 'failed') <> 'sent' or x.status_code is not null "
                           "or x.reason is not null or x.message_id is not null")
                if note_new and keep_versions:
                    self.wh.execute(
                        f"insert into {self.records} (sync_name, record_key, status, customer_key, channel, "
                        "scenario_id, run_id, batch_id, row_hash, status_code, reason, destination_message_id, "
                        "first_sent_at, sent_at, attempts, updated_at, operation) "
                        f"select b.sync_name, v.{quote_ident(KEY)}, 'sent', v.{quote_ident(CUSTOMER)}, "
                        f"v.{quote_ident(CHANNEL)}, v.{quote_ident(SCENARIO)}, b.run_id, b.batch_id, null, null, "
                        f"null, null, b.finished_at, b.finished_at, 1, b.finished_at, v.{quote_ident(OP)} "
                        f"from {self.snapshot} as v join {self.batches} as b on b.sync_name = ? "
                        f"and b.batch_id = v.{quote_ident(BATCH_ID)} and b.status = 'sent' "
                        f"where v.{quote_ident(KEY)} in (select x.record_key from ({x}) as x where {notable}) "
                        f"and not exists (select 1 from {self.records} as r where r.sync_name = ? "
                        f"and r.record_key = v.{quote_ident(KEY)})",
                        [self.sync_name, self.sync_name],
                    )
                simple = not has_outcomes and not not_live and not exact
                if any_insert and simple:
                    # the common case (new rows, every batch delivered, no per-row answers):
                    # constants and the staged columns only, no joins
                    self.wh.execute(
                        f"insert into {self.records} (sync_name, record_key, status, customer_key, channel, "
                        "scenario_id, run_id, batch_id, row_hash, status_code, reason, destination_message_id, "
                        "first_sent_at, sent_at, attempts, updated_at, operation) "
                        f"select ?, c.{quote_ident(KEY)}, 'sent', c.{quote_ident(CUSTOMER)}, c.{quote_ident(CHANNEL)}, "
                        f"c.{quote_ident(SCENARIO)}, ?, c.{quote_ident(BATCH_ID)}, null, "
                        "null, null, null, cast(? as timestamp), cast(? as timestamp), 1, cast(? as timestamp), "
                        f"c.{quote_ident(OP)} from {rows} as c where not c.{quote_ident(IN_LEDGER)}",
                        [self.sync_name, run_param, at, at, at],
                    )
                    any_insert = False
                if any_update:
                    # a row handed over before: a failed hand-over leaves an earlier delivery standing
                    self.wh.execute(
                        f"update {self.records} as r set "
                        "status = case when x.final_status is not null then x.final_status "
                        "when r.sent_at is not null then 'sent' else 'failed' end, "
                        "customer_key = x.customer_key, channel = x.channel, scenario_id = x.scenario_id, "
                        "run_id = ?, batch_id = x.batch_id, "
                        "row_hash = x.row_hash, "
                        "operation = case when x.final_status is null and r.sent_at is not null then r.operation "
                        "else x.op end, "
                        "status_code = x.status_code, reason = x.reason, destination_message_id = x.message_id, "
                        "sent_at = case when x.final_status = 'sent' then ? else r.sent_at end, "
                        "first_sent_at = case when x.final_status = 'sent' then coalesce(r.first_sent_at, ?) "
                        "else r.first_sent_at end, "
                        "attempts = r.attempts + 1, "
                        "updated_at = case when x.final_status is null and r.sent_at is not null then r.sent_at "
                        "else ? end "
                        f"from ({x}) as x where {'true' if exact else 'x.in_ledger'} and r.sync_name = ? "
                        "and r.record_key = x.record_key",
                        [run_param, at, at, at, self.sync_name],
                    )
                if any_insert:
                    self.wh.execute(
                        f"insert into {self.records} (sync_name, record_key, status, customer_key, channel, "
                        "scenario_id, run_id, batch_id, row_hash, status_code, reason, destination_message_id, "
                        "first_sent_at, sent_at, attempts, updated_at, operation) "
                        "select ?, x.record_key, coalesce(x.final_status, 'failed'), x.customer_key, x.channel, "
                        "x.scenario_id, ?, x.batch_id, x.row_hash, x.status_code, x.reason, x.message_id, "
                        "case when x.final_status = 'sent' then cast(? as timestamp) end, "
                        "case when x.final_status = 'sent' then cast(? as timestamp) end, 1, ?, x.op "
                        f"from ({x}) as x where "
                        + (f"not exists (select 1 from {self.records} as r where r.sync_name = ? "
                           "and r.record_key = x.record_key)" if exact else "not x.in_ledger")
                        + ("" if record_clean else f" and ({notable})"),
                        [self.sync_name, run_param, at, at, at] + ([self.sync_name] if exact else []),
                    )
                # -- the snapshot: what did not arrive leaves; what arrived replaces older versions
                # (an uncertain batch keeps its outbox rows and stays pending)
                batch_in = f"(select batch_id from {res} where status <> 'uncertain')"
                if not keep_versions:
                    self.wh.execute(f"delete from {self.snapshot} where {quote_ident(BATCH_ID)} in {batch_in}")
                else:
                    if not_live:
                        self.wh.execute(
                            f"delete from {self.snapshot} where {quote_ident(BATCH_ID)} in "
                            f"(select batch_id from {res} where status in ('failed', 'skipped'))")
                    if has_outcomes:
                        # rows refused or failed keep their previous version; a refused
                        # removal counts as removed (the destination does not have it)
                        self.wh.execute(
                            f"delete from {self.snapshot} as v where v.{quote_ident(BATCH_ID)} in {batch_in} "
                            f"and exists (select 1 from {outs} as o where o.record_key = v.{quote_ident(KEY)} "
                            f"and (o.status = 'failed' or (o.status = 'rejected' and v.{quote_ident(OP)} <> 'delete')))")
                    if any_supersede:
                        # versions that arrived (a refused removal counts) replace the older ones
                        arrived = (
                            f"select c.{quote_ident(KEY)} from {rows} as c join {res} as b "
                            f"on b.batch_id = c.{quote_ident(BATCH_ID)} and b.status = 'sent' "
                            f"where c.{quote_ident(IN_SNAPSHOT)} and not exists (select 1 from {outs} as o "
                            f"where o.record_key = c.{quote_ident(KEY)} and (o.status = 'failed' "
                            f"or (o.status = 'rejected' and c.{quote_ident(OP)} <> 'delete')))"
                        )
                        self.wh.execute(
                            f"delete from {self.snapshot} as v where v.{quote_ident(BATCH_ID)} not in {batch_in} "
                            f"and v.{quote_ident(KEY)} in ({arrived})")
                self.wh.execute(
                    f"update {self.batches} as t set status = b.status, error = b.error, finished_at = ?, "
                    "commit_seq = case when b.status = 'sent' then cast(? as bigint) end "
                    f"from {res} as b where t.sync_name = ? and t.batch_id = b.batch_id and b.status <> 'uncertain'",
                    [at, commit_seq, self.sync_name],
                )
                self.wh.execute(
                    f"update {self.batches} as t set error = b.error "
                    f"from {res} as b where t.sync_name = ? and t.batch_id = b.batch_id and b.status = 'uncertain'",
                    [self.sync_name],
                )

    # -- recovery ---------------------------------------------------------------------
    def pending_group_batches(self) -> list[dict[str, Any]]:
        """Batches an earlier run left 'pending' (outbox rows kept), oldest first."""
        rows = self.wh.fetchall(
            f"select batch_id, run_id, seq, operation, rows, columns from {self.batches} "
            "where sync_name = ? and status = 'pending' order by batch_id",
            [self.sync_name],
        )
        return [{"batch_id": r[0], "run_id": r[1], "seq": int(r[2]), "operation": r[3], "rows": int(r[4]),
                 "columns": json.loads(r[5]) if r[5] else None} for r in rows]

    def load_outbox(self, batch_ids: Iterable[str], customer_column: str | None = None) -> pa.Table:
        """The outbox rows (payload + meta) of pending batches, as stored (the
        customer key filled in from ``customer_column`` where it was not stored)."""
        ids = list(batch_ids)
        marks = ", ".join("?" for _ in ids)
        columns = [c for c in self.wh.columns(SCHEMA, self.snapshot_name)]
        select = ", ".join(
            f"coalesce(v.{quote_ident(CUSTOMER)}, cast(v.{quote_ident(customer_column)} as varchar)) "
            f"as {quote_ident(CUSTOMER)}" if c == CUSTOMER and customer_column and customer_column in columns
            else f"v.{quote_ident(c)}" for c in columns)
        return self.wh.fetch_arrow(
            f"select {select} from {self.snapshot} as v where v.{quote_ident(BATCH_ID)} in ({marks}) "
            f"order by v.{quote_ident(BATCH_ID)}, v.{quote_ident(KEY)}", ids)

    # -- first engine version (per-record 'pending' in sync_records) ----------------------
    def legacy_pending_batches(self) -> list[tuple[str, int]]:
        """``(batch_id, rows)`` of batches the first engine version left 'pending' in sync_records."""
        rows = self.wh.fetchall(
            f"select batch_id, count(*) from {self.records} where sync_name = ? and status = 'pending' "
            "group by batch_id order by batch_id",
            [self.sync_name],
        )
        return [(r[0], int(r[1])) for r in rows]

    def mark_batch_sent(self, batch_id: str, at: dt.datetime, reason: str | None = None) -> None:
        """Every still-pending row of a (first-version) batch was delivered."""
        self.wh.execute(
            f"update {self.records} set status = 'sent', sent_at = ?, first_sent_at = coalesce(first_sent_at, ?), "
            "updated_at = ?, reason = coalesce(reason, ?) where sync_name = ? and batch_id = ? and status = 'pending'",
            [at, at, at, reason, self.sync_name, batch_id],
        )

    def mark_batch_undelivered(self, batch_id: str, reason: str, at: dt.datetime) -> None:
        """A (first-version) batch did not arrive: earlier deliveries stand, the rest failed."""
        self.wh.execute(
            f"update {self.records} set "
            "status = case when sent_at is not null then 'sent' else 'failed' end, "
            "updated_at = case when sent_at is not null then sent_at else ? end, "
            "reason = ? where sync_name = ? and batch_id = ? and status = 'pending'",
            [at, reason[:1000], self.sync_name, batch_id],
        )

    def find_keys_of_run(self, run_id: str, keys: Sequence[str]) -> list[str]:
        """Which of ``keys`` this run already handed over (exact duplicate check)."""
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        found = self.wh.fetchall(
            f"select record_key from {self.records} where sync_name = ? and run_id = ? and record_key in ({marks}) "
            f"union select v.{quote_ident(KEY)} from {self.snapshot} as v join {self.batches} as b "
            f"on b.sync_name = ? and b.batch_id = v.{quote_ident(BATCH_ID)} and b.run_id = ? "
            f"where v.{quote_ident(KEY)} in ({marks})",
            [self.sync_name, run_id, *keys, self.sync_name, run_id, *keys],
        )
        return sorted(r[0] for r in found)

    def drop_stage(self) -> None:
        self.wh.execute(f"drop table if exists {self.stage}")


def read_records(warehouse: Warehouse, sync_name: str | None = None, *,
                 customer_column: str | None = None) -> list[dict[str, Any]]:
    """Per-record outcomes as dicts (small ledgers: tests, debugging): the rows
    of ``ops.sync_records``, plus, for upsert and mirror syncs, the records
    delivered cleanly, which live only in the snapshot (status 'sent', times
    from their batch; ``attempts`` and ``first_sent_at`` are not kept for them).
    ``customer_column``: the sync's payload column holding the customer key
    (the snapshot stores it once, there)."""
    records = qualified(SCHEMA, RECORDS)
    sql = f"select * from {records}"
    params: list[Any] = []
    if sync_name is not None:
        sql += " where sync_name = ?"
        params.append(sync_name)
    rows = warehouse.fetch_arrow(sql, params).to_pylist()
    names = [sync_name] if sync_name is not None else [
        r[0] for r in warehouse.fetchall(f"select distinct sync_name from {qualified(SCHEMA, BATCHES)}")]
    columns = [c for c in warehouse.columns(SCHEMA, RECORDS)]
    for name in names:
        if not warehouse.table_exists(SCHEMA, snapshot_table_name(name)):
            continue
        customer = f"v.{quote_ident(CUSTOMER)}"
        if customer_column and customer_column in warehouse.columns(SCHEMA, snapshot_table_name(name)):
            customer = f"coalesce({customer}, cast(v.{quote_ident(customer_column)} as varchar))"
        derived = {
            "sync_name": "b.sync_name", "record_key": f"v.{quote_ident(KEY)}", "status": "'sent'",
            "customer_key": customer, "channel": f"v.{quote_ident(CHANNEL)}",
            "scenario_id": f"v.{quote_ident(SCENARIO)}", "run_id": "b.run_id", "batch_id": "b.batch_id",
            "sent_at": "b.finished_at", "updated_at": "b.finished_at", "operation": f"v.{quote_ident(OP)}",
        }
        select = ", ".join(f"{derived.get(c, 'null')} as {quote_ident(c)}" for c in columns)
        rows += warehouse.fetch_arrow(
            f"select {select} from {qualified(SCHEMA, snapshot_table_name(name))} as v "
            f"join {qualified(SCHEMA, BATCHES)} as b on b.sync_name = ? and b.batch_id = v.{quote_ident(BATCH_ID)} "
            f"and b.status = 'sent' where not exists (select 1 from {records} as r where r.sync_name = ? "
            f"and r.record_key = v.{quote_ident(KEY)})", [name, name]).to_pylist()
    return sorted(rows, key=lambda r: (r["sync_name"], r["record_key"]))


def read_snapshot(warehouse: Warehouse, sync_name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """What the destination of ``sync_name`` holds now (committed versions), as dicts
    with the payload columns plus ``_kairos_record_key`` (and ``_kairos_op``)."""
    table = qualified(SCHEMA, snapshot_table_name(sync_name))
    if not warehouse.table_exists(SCHEMA, snapshot_table_name(sync_name)):
        return []
    where = "" if include_deleted else f" and v.{quote_ident(OP)} <> 'delete'"
    rows = warehouse.fetch_arrow(
        f"select v.* from {table} as v join {qualified(SCHEMA, BATCHES)} as b on b.sync_name = ? "
        f"and b.batch_id = v.{quote_ident(BATCH_ID)} and b.status = 'sent' where true{where} "
        f"order by v.{quote_ident(KEY)}", [sync_name]).to_pylist()
    drop = {f.name for f in VERSION_META} - {KEY, OP}
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


__all__ = [
    "BATCHES", "FAILED", "KEY_SCHEMA", "PENDING", "RECORDS", "REJECTED", "RUNS", "SCHEMA", "SENT", "SKIPPED",
    "GroupRows", "Ledger", "ensure_ledger", "read_records", "read_snapshot", "snapshot_table_name", "utcnow",
]
