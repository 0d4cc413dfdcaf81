"""The landing zone: files of raw rows dropped in a folder, appended to the raw tables.

Collectors, exports and the latency benchmark drop files into
``$KAIROS_LANDING_DIR`` (default ``<repo>/landing``); :func:`load_landing`
appends each to its raw table exactly once. This is the loader of the
real-time path (the Dagster sensor watches the folder, see
``orchestration/sensors.py``).

Files
-----
* Named by table: ``<table>[<sep><anything>].<ext>`` with ``<sep>`` one of
  ``. _ -`` (``events-20261120T1015.jsonl``, ``orders.csv``,
  ``order_lines_001.parquet``), or any name inside a folder named after the
  table (``landing/events/batch-17.jsonl``). The longest matching table name
  wins (``order_lines_1.csv`` is ``order_lines``, not ``orders``).
* Formats: JSON lines (``.jsonl``, ``.ndjson``), JSON (``.json``: an array
  or lines), CSV with a header (``.csv``), Parquet (``.parquet``); text
  formats may be gzipped (``.jsonl.gz``, ``.csv.gz``).
* Columns are matched by name to the raw table and converted to its types;
  columns the file lacks are NULL; a column the table lacks rejects the file
  (contract drift is stopped at the door, not silently dropped). A raw table
  with a ``received_at`` column gets the load time where the file has none.
* Writers should write under a temporary name and rename when done: names
  starting with ``.`` or ``_`` and ending in ``.tmp``/``.part`` are ignored.

Exactly once
------------
Each file is appended in one transaction together with its row in the
ledger ``ops.landing_files`` (key: table + SHA-256 of the content), and only
then moved to ``landing/processed/<yyyymmdd>/``. If the process dies between
the commit and the move, the next load finds the file in the ledger and just
moves it (status ``duplicate``): a file, or a byte-identical copy of it, is
appended once. Files that cannot be loaded go to ``landing/rejected/`` with a
``<name>.reason.txt`` beside them and a ledger row with status ``rejected``
and the reason; nothing of a rejected file reaches the raw table.

Everything works on DuckDB and PostgreSQL: files are parsed by an in-memory
DuckDB (typed by the target table's columns) into Arrow and appended through
:class:`kairos.warehouse.Warehouse`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from kairos.settings import Settings, load_settings
from kairos.warehouse import Warehouse, connect, qualified, quote_ident

RAW_SCHEMA = "raw"
LEDGER_SCHEMA = "ops"
LEDGER_TABLE = "landing_files"
PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
#: the raw tables a landing file may feed (the raw contract); others must already exist in ``raw``
CONTRACT_TABLES = (
    "events", "orders", "order_lines", "products", "inventory_levels", "price_history",
    "crm_customers", "consents", "contact_history",
)
#: column the loader stamps with the load time where a file has none
STAMP_COLUMN = "received_at"

_FORMATS = {
    ".jsonl": "json", ".ndjson": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet",
    ".jsonl.gz": "json", ".ndjson.gz": "json", ".json.gz": "json", ".csv.gz": "csv",
}
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".reason.txt")
_SEPARATORS = "._-"

# warehouse type (information_schema.data_type, DuckDB or PostgreSQL) -> DuckDB type for parsing
_PG_TO_DUCKDB = {
    "text": "VARCHAR", "character varying": "VARCHAR", "character": "VARCHAR", "varchar": "VARCHAR",
    "bigint": "BIGINT", "integer": "INTEGER", "smallint": "SMALLINT", "double precision": "DOUBLE",
    "real": "FLOAT", "numeric": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMPTZ",
    "json": "VARCHAR", "jsonb": "VARCHAR", "uuid": "VARCHAR",
}
_DUCKDB_TYPE = re.compile(r"^[A-Z][A-Z0-9_ ]*(\(\d+(,\s*\d+)?\))?(\[\])?$")


class LandingError(ValueError):
    """A file cannot be loaded; the message is the reason recorded for it."""


@dataclass(frozen=True)
class LandingFile:
    """One file waiting in the landing zone."""

    path: Path
    table: str | None  # None: the name matches no raw table
    fmt: str | None  # json | csv | parquet; None: unknown extension

    @property
    def fingerprint(self) -> str:
        """Name, size and modification time: what a sensor cursor remembers."""
        stat = self.path.stat()
        return f"{self.path.name}:{stat.st_size}:{stat.st_mtime_ns}"


@dataclass
class FileOutcome:
    """What happened to one file."""

    file_name: str
    table: str | None
    status: str  # loaded | duplicate | rejected
    rows: int = 0
    reason: str | None = None
    moved_to: str | None = None
    sha256: str | None = None


@dataclass
class LandingReport:
    """What one :func:`load_landing` call did."""

    files: list[FileOutcome] = field(default_factory=list)

    @property
    def loaded(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "loaded"]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    @property
    def duplicates(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "duplicate"]

    def rows_by_table(self) -> dict[str, int]:
        """Rows appended per raw table by this call."""
        out: dict[str, int] = {}
        for f in self.loaded:
            out[str(f.table)] = out.get(str(f.table), 0) + f.rows
        return out

    def summary(self) -> str:
        """One human line."""
        rows = ", ".join(f"{t}+{n}" for t, n in sorted(self.rows_by_table().items())) or "no rows"
        return (f"{len(self.loaded)} file(s) loaded ({rows}), {len(self.duplicates)} already loaded, "
                f"{len(self.rejected)} rejected")


# -- finding files ---------------------------------------------------------------

def file_format(name: str) -> str | None:
    """``json``, ``csv`` or ``parquet`` from the file name; None if unknown."""
    lower = name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return _FORMATS[suffix]
    return None


def table_for(path: Path, landing_dir: Path, tables: Iterable[str] = CONTRACT_TABLES) -> str | None:
    """The raw table a file feeds: its folder's name, else the longest table name
    its file name starts with (followed by a separator or the extension)."""
    names = sorted(set(tables), key=len, reverse=True)
    if path.parent != landing_dir and path.parent.name in names:
        return path.parent.name
    lower = path.name.lower()
    for name in names:
        if lower.startswith(name) and (len(lower) == len(name) or lower[len(name)] in _SEPARATORS):
            return name
    return None


def _ignored(name: str) -> bool:
    return name.startswith((".", "_")) or name.lower().endswith(_IGNORED_SUFFIXES)


def pending_files(landing_dir: Path | None = None, tables: Iterable[str] = CONTRACT_TABLES) -> list[LandingFile]:
    """Files waiting in the landing zone (top level and one folder per table),
    oldest first; ``processed/``, ``rejected/``, hidden and temporary files are
    left out. Cheap: only lists directories (the sensor calls it every tick)."""
    landing_dir = Path(landing_dir) if landing_dir is not None else load_settings().landing_dir
    if not landing_dir.is_dir():
        return []
    tables = tuple(tables)
    found: list[tuple[int, str, LandingFile]] = []
    with os.scandir(landing_dir) as top:
        entries = list(top)
    for entry in entries:
        if _ignored(entry.name):
            continue
        if entry.is_file():
            path = Path(entry.path)
            found.append((entry.stat().st_mtime_ns, entry.name,
                          LandingFile(path, table_for(path, landing_dir, tables), file_format(entry.name))))
        elif entry.is_dir() and entry.name not in (PROCESSED_DIR, REJECTED_DIR):
            with os.scandir(entry.path) as sub:
                for child in sub:
                    if child.is_file() and not _ignored(child.name):
                        path = Path(child.path)
                        table = entry.name if entry.name in tables else None
                        found.append((child.stat().st_mtime_ns, f"{entry.name}/{child.name}",
                                      LandingFile(path, table, file_format(child.name))))
    return [f for _, _, f in sorted(found, key=lambda t: (t[0], t[1]))]


# -- the ledger --------------------------------------------------------------------

def ensure_ledger(wh: Warehouse) -> None:
    """Create ``ops.landing_files`` if it is missing."""
    wh.ensure_schema(LEDGER_SCHEMA)
    wh.execute(
        f"create table if not exists {qualified(LEDGER_SCHEMA, LEDGER_TABLE)} ("
        "file_name text not null, table_name text, file_sha256 text, file_bytes bigint, "
        "status text not null, row_count bigint, reason text, loaded_at timestamp not null, "
        "run_id text, landed_path text, moved_to text)"
    )


def ledger_rows(wh: Warehouse, run_id: str | None = None) -> list[dict[str, Any]]:
    """Ledger rows (all, or those of one run), oldest first, as dicts."""
    if not wh.table_exists(LEDGER_SCHEMA, LEDGER_TABLE):
        return []
    columns = ["file_name", "table_name", "file_sha256", "status", "row_count", "reason", "loaded_at",
               "run_id", "moved_to"]
    sql = f"select {', '.join(columns)} from {qualified(LEDGER_SCHEMA, LEDGER_TABLE)}"
    params: list[Any] = []
    if run_id is not None:
        sql += " where run_id = ?"
        params.append(run_id)
    rows = wh.fetchall(sql + " order by loaded_at, file_name", params)
    return [dict(zip(columns, r)) for r in rows]


def _already_loaded(wh: Warehouse, table: str, sha: str) -> bool:
    return bool(wh.scalar(
        f"select count(*) from {qualified(LEDGER_SCHEMA, LEDGER_TABLE)} "
        "where table_name = ? and file_sha256 = ? and status = 'loaded'",
        [table, sha],
    ))


# -- reading a file -------------------------------------------------------------------

def _duckdb_type(data_type: str) -> str:
    text = str(data_type).strip()
    mapped = _PG_TO_DUCKDB.get(text.lower())
    if mapped:
        return mapped
    upper = text.upper()
    if upper.startswith("NUMERIC") or upper.startswith("DECIMAL"):
        return upper.replace("NUMERIC", "DECIMAL")
    if upper.startswith("CHARACTER VARYING") or upper.startswith("VARCHAR"):
        return "VARCHAR"
    if not _DUCKDB_TYPE.match(upper):
        raise LandingError(f"unsupported column type {data_type!r}")
    return upper


def table_columns(wh: Warehouse, table: str, schema: str = RAW_SCHEMA) -> list[tuple[str, str]]:
    """``[(column, DuckDB type)]`` of a raw table, in order (empty if it does not exist)."""
    rows = wh.fetchall(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    )
    return [(str(name), _duckdb_type(str(dtype))) for name, dtype in rows]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_file(
    path: Path, fmt: str, columns: Sequence[tuple[str, str]], stamp: dt.datetime | None = None
) -> pa.Table:
    """A landing file as an Arrow table with exactly ``columns`` (name, DuckDB type), in order.

    Raises :class:`LandingError` (the reason) when the file cannot be parsed,
    has a column the table lacks, or holds a value that does not convert.
    ``stamp`` fills ``received_at`` where the file has none.
    """
    import duckdb

    target = dict(columns)
    con = duckdb.connect(":memory:")
    try:
        con.execute("set threads = 1")
        source = _sql_literal(str(path))
        try:
            if fmt == "json":
                # first pass: which keys the file has (types are ignored here) ...
                present = [r[0] for r in con.execute(
                    f"describe select * from read_json({source}, format = 'auto', sample_size = -1)").fetchall()]
                _check_columns(present, target)
                # ... second pass: parse each value straight into the table's type
                # (a JSON string that looks like a timestamp stays text in a text column)
                spec = "{" + ", ".join(f"{_sql_literal(c)}: {_sql_literal(target[c])}" for c in present) + "}"
                relation = f"read_json({source}, format = 'auto', columns = {spec})"
            elif fmt == "csv":
                relation = f"read_csv({source}, header = true, all_varchar = true, auto_detect = true)"
                present = [r[0] for r in con.execute(f"describe select * from {relation}").fetchall()]
                _check_columns(present, target)
            elif fmt == "parquet":
                relation = f"read_parquet({source})"
                present = [r[0] for r in con.execute(f"describe select * from {relation}").fetchall()]
                _check_columns(present, target)
            else:
                raise LandingError(f"unknown file format of {path.name!r} (use .jsonl, .json, .csv or .parquet)")
            selects = []
            for name, dtype in columns:
                if name in present:
                    expr = f"cast({quote_ident(name)} as {dtype})"
                else:
                    expr = f"cast(null as {dtype})"
                if name == STAMP_COLUMN and stamp is not None:
                    expr = f"coalesce({expr}, cast({_sql_literal(stamp.isoformat(sep=' '))} as {dtype}))"
                selects.append(f"{expr} as {quote_ident(name)}")
            return con.sql(f"select {', '.join(selects)} from {relation}").to_arrow_table()
        except duckdb.Error as exc:
            message = " ".join(str(exc).split())
            raise LandingError(f"cannot read {path.name}: {message[:400]}") from exc
    finally:
        con.close()


def _check_columns(present: Sequence[str], target: dict[str, str]) -> None:
    duplicated = sorted({c for c in present if list(present).count(c) > 1})
    if duplicated:
        raise LandingError(f"duplicate columns: {', '.join(duplicated)}")
    unknown = [c for c in present if c not in target]
    if unknown:
        raise LandingError(
            f"columns not in the raw table: {', '.join(unknown[:10])}"
            + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else "")
        )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- loading ----------------------------------------------------------------------------

def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _move(path: Path, folder: Path) -> Path:
    """Move a file into ``folder`` without overwriting anything there."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    lower = path.name.lower()
    ext = next((s for s in sorted(_FORMATS, key=len, reverse=True) if lower.endswith(s)), path.suffix)
    base = path.name[: len(path.name) - len(ext)] if ext else path.name
    n = 1
    while target.exists():
        # keep the format suffix last: events.jsonl.gz -> events.1.jsonl.gz
        target = folder / f"{base}.{n}{ext}"
        n += 1
    shutil.move(str(path), str(target))
    return target


def _record(wh: Warehouse, outcome: FileOutcome, file_bytes: int, loaded_at: dt.datetime, run_id: str | None,
            landed_path: str) -> None:
    wh.execute(
        f"insert into {qualified(LEDGER_SCHEMA, LEDGER_TABLE)} (file_name, table_name, file_sha256, file_bytes, "
        "status, row_count, reason, loaded_at, run_id, landed_path, moved_to) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [outcome.file_name, outcome.table, outcome.sha256, file_bytes, outcome.status, outcome.rows,
         outcome.reason, loaded_at, run_id, landed_path, outcome.moved_to],
    )


def load_file(
    wh: Warehouse, item: LandingFile, landing_dir: Path, run_id: str | None = None,
    now: dt.datetime | None = None,
) -> FileOutcome:
    """Append one landing file to its raw table exactly once, then move it away."""
    loaded_at = now or _utcnow()
    day = loaded_at.strftime("%Y%m%d")
    path = item.path
    file_bytes = path.stat().st_size
    sha = sha256_of(path)
    outcome = FileOutcome(file_name=path.name, table=item.table, status="loaded", sha256=sha)
    try:
        if item.table is None:
            raise LandingError(f"the name matches no raw table (start it with one of: {', '.join(CONTRACT_TABLES)})")
        if item.fmt is None:
            raise LandingError("unknown file format (use .jsonl, .ndjson, .json, .csv, .parquet; .gz for text)")
        if _already_loaded(wh, item.table, sha):
            # loaded before (the move was lost, or the same bytes were delivered twice)
            outcome.status = "duplicate"
            outcome.moved_to = str(_move(path, landing_dir / PROCESSED_DIR / day))
            _record(wh, outcome, file_bytes, loaded_at, run_id, str(path))
            return outcome
        columns = table_columns(wh, item.table)
        if not columns:
            raise LandingError(f"{RAW_SCHEMA}.{item.table} does not exist (load the raw contract first)")
        data = read_file(path, item.fmt, columns, stamp=loaded_at)
        outcome.rows = data.num_rows
        names = ", ".join(quote_ident(c) for c, _ in columns)
        processed = landing_dir / PROCESSED_DIR / day
        with wh.transaction():
            if data.num_rows:
                with wh.stage_arrow("_kairos_landing", data) as staged:
                    wh.execute(f"insert into {qualified(RAW_SCHEMA, item.table)} ({names}) select {names} from {staged}")
            outcome.moved_to = str(processed / path.name)  # where it is about to go
            _record(wh, outcome, file_bytes, loaded_at, run_id, str(path))
        # committed: from here on a lost move only costs a 'duplicate' next time
        moved = _move(path, processed)
        if str(moved) != outcome.moved_to:
            outcome.moved_to = str(moved)
            wh.execute(
                f"update {qualified(LEDGER_SCHEMA, LEDGER_TABLE)} set moved_to = ? "
                "where table_name = ? and file_sha256 = ? and status = 'loaded'",
                [outcome.moved_to, item.table, sha],
            )
        return outcome
    except LandingError as exc:
        outcome.status, outcome.rows, outcome.reason = "rejected", 0, str(exc)
        target = _move(path, landing_dir / REJECTED_DIR)
        target.with_name(target.name + ".reason.txt").write_text(
            f"{path.name}: {exc}\nrejected at {loaded_at.isoformat()}Z\n", encoding="utf-8")
        outcome.moved_to = str(target)
        _record(wh, outcome, file_bytes, loaded_at, run_id, str(path))
        return outcome


def load_landing(
    settings: Settings | None = None,
    *,
    wh: Warehouse | None = None,
    run_id: str | None = None,
    files: Sequence[LandingFile] | None = None,
    now: dt.datetime | None = None,
) -> LandingReport:
    """Append every pending landing file (or ``files``) to its raw table, oldest first.

    ``run_id`` (a Dagster run id) is recorded in the ledger so checks can
    validate exactly the rows a run loaded (:func:`loaded_batch`).
    """
    settings = settings or load_settings()
    landing_dir = settings.landing_dir
    report = LandingReport()
    own = wh is None
    wh = wh or connect(settings)
    try:
        ensure_ledger(wh)
        tables = set(CONTRACT_TABLES) | {r[0] for r in wh.fetchall(
            "select table_name from information_schema.tables where table_schema = ?", [RAW_SCHEMA])}
        todo = list(files) if files is not None else pending_files(landing_dir, tables)
        for item in todo:
            if not item.path.exists():
                continue  # taken by a concurrent loader
            report.files.append(load_file(wh, item, landing_dir, run_id=run_id, now=now))
    finally:
        if own:
            wh.close()
    return report


def loaded_batch(wh: Warehouse, table: str, run_id: str) -> pa.Table | None:
    """The rows a run appended to ``raw.<table>`` from landing files, read back
    from the processed files exactly as they were loaded; None when the run
    loaded no file for the table."""
    rows = [r for r in ledger_rows(wh, run_id) if r["table_name"] == table and r["status"] == "loaded"]
    if not rows:
        return None
    columns = table_columns(wh, table)
    parts = []
    for row in rows:
        path = Path(row["moved_to"])
        parts.append(read_file(path, file_format(path.name) or "", columns, stamp=row["loaded_at"]))
    return pa.concat_tables(parts)
