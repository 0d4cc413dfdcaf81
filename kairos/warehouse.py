"""One small interface over the two warehouses Kairos runs on locally.

DuckDB (embedded default) and PostgreSQL differ in drivers and parameter
styles; everything in Python that reads or writes warehouse tables (loader,
sync engine, ledger, reports) goes through :class:`Warehouse` so it does not
care which one it talks to. SQL passed in uses ``?`` placeholders.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from kairos.settings import Settings, load_settings

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def quote_ident(name: str) -> str:
    """Quote a SQL identifier after checking it is a plain name.

    Identifiers that come from configuration (model, column, schema names)
    reach SQL only through here: anything but letters, digits and underscores
    is refused rather than escaped.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"not a valid SQL identifier: {name!r}")
    return f'"{name}"'


def qualified(schema: str, table: str) -> str:
    """``"schema"."table"`` with both parts checked."""
    return f"{quote_ident(schema)}.{quote_ident(table)}"


_PG_TYPES = {
    pa.types.is_boolean: "boolean",
    pa.types.is_integer: "bigint",
    pa.types.is_floating: "double precision",
    pa.types.is_date: "date",
    pa.types.is_timestamp: "timestamp",
    pa.types.is_string: "text",
    pa.types.is_large_string: "text",
    pa.types.is_decimal: "numeric",
}


def _pg_type(arrow_type: pa.DataType) -> str:
    for check, sql_type in _PG_TYPES.items():
        if check(arrow_type):
            return sql_type
    raise TypeError(f"no PostgreSQL type for Arrow type {arrow_type}")


class Warehouse:
    """A connection to the configured warehouse (DuckDB file or PostgreSQL)."""

    def __init__(self, settings: Settings | None = None, read_only: bool = False) -> None:
        self.settings = settings or load_settings()
        self.dialect = self.settings.target
        if self.dialect == "duckdb":
            import duckdb

            self.settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = duckdb.connect(str(self.settings.duckdb_path), read_only=read_only)
        else:
            import psycopg2

            self._conn = psycopg2.connect(self.settings.pg_dsn)
            self._conn.autocommit = True

    # -- plumbing -----------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement, discarding any result."""
        if self.dialect == "duckdb":
            self._conn.execute(sql, params or [])
        else:
            with self._conn.cursor() as cur:
                cur.execute(self._sql(sql), params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        if not rows:
            return
        if self.dialect == "duckdb":
            self._conn.executemany(sql, rows)
        else:
            from psycopg2.extras import execute_batch

            with self._conn.cursor() as cur:
                execute_batch(cur, self._sql(sql), rows, page_size=1000)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run a query and return every row as a tuple."""
        if self.dialect == "duckdb":
            return self._conn.execute(sql, params or []).fetchall()
        with self._conn.cursor() as cur:
            cur.execute(self._sql(sql), params or None)
            return cur.fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        rows = self.fetchall(sql, params)
        return rows[0][0] if rows else None

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """A whole (small) result as an Arrow table."""
        if self.dialect == "duckdb":
            # con.sql() hands Arrow the result without the DB-API copy
            return self._conn.sql(sql, params=params or None).to_arrow_table()
        batches = list(self.fetch_batches(sql, params))
        if not batches:
            return pa.table({})
        return pa.Table.from_batches(batches)

    def fetch_batches(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream a result as Arrow record batches without holding it all in memory."""
        if self.dialect == "duckdb":
            yield from self._conn.sql(sql, params=params or None).to_arrow_reader(batch_size)
            return
        # A named (server-side) cursor streams from PostgreSQL instead of
        # buffering the whole result; it only lives inside a transaction, so
        # open one unless the caller already has.
        owns_transaction = self._conn.autocommit
        if owns_transaction:
            self._conn.autocommit = False
        try:
            with self._conn.cursor(name=f"kairos_stream_{id(self)}") as cur:
                cur.itersize = batch_size
                cur.execute(self._sql(sql), params or None)
                while True:
                    rows = cur.fetchmany(batch_size)
                    if not rows:
                        break
                    names = [d[0] for d in cur.description]
                    yield pa.RecordBatch.from_pydict({n: [r[i] for r in rows] for i, n in enumerate(names)})
            if owns_transaction:
                self._conn.commit()
        except BaseException:
            if owns_transaction:
                self._conn.rollback()
            raise
        finally:
            if owns_transaction:
                self._conn.autocommit = True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group statements so they commit together or not at all."""
        if self.dialect == "duckdb":
            self._conn.execute("begin transaction")
            try:
                yield
            except BaseException:
                self._conn.execute("rollback")
                raise
            self._conn.execute("commit")
        else:
            self._conn.autocommit = False
            try:
                yield
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()
            finally:
                self._conn.autocommit = True

    # -- catalog ------------------------------------------------------------
    def table_exists(self, schema: str, table: str) -> bool:
        """Whether a table or view exists."""
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                [schema, table],
            )
        )

    def columns(self, schema: str, table: str) -> list[str]:
        """Column names of a table or view, in order."""
        rows = self.fetchall(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )
        return [r[0] for r in rows]

    def ensure_schema(self, schema: str) -> None:
        """Create a schema if it is missing."""
        self.execute(f"create schema if not exists {quote_ident(schema)}")

    # -- bulk load ----------------------------------------------------------
    def load_arrow(self, schema: str, table: str, data: pa.Table, replace: bool = True) -> int:
        """Write an Arrow table into ``schema.table`` (replacing it by default)."""
        self.ensure_schema(schema)
        target = qualified(schema, table)
        if self.dialect == "duckdb":
            self._conn.register("_kairos_load", data)
            try:
                if replace:
                    self._conn.execute(f"create or replace table {target} as select * from _kairos_load")
                else:
                    self._conn.execute(f"insert into {target} select * from _kairos_load")
            finally:
                self._conn.unregister("_kairos_load")
            return data.num_rows
        columns = ", ".join(f"{quote_ident(f.name)} {_pg_type(f.type)}" for f in data.schema)
        with self._conn.cursor() as cur:
            if replace:
                cur.execute(f"drop table if exists {target} cascade")
                cur.execute(f"create table {target} ({columns})")
            # CSV with an explicit null marker keeps empty strings distinct from NULL
            for batch in data.to_batches(max_chunksize=200_000):
                buf = io.BytesIO()
                pacsv.write_csv(
                    pa.Table.from_batches([batch]),
                    buf,
                    write_options=pacsv.WriteOptions(include_header=False, quoting_style="all_valid"),
                )
                buf.seek(0)
                cur.copy_expert(f"copy {target} from stdin with (format csv, null '')", buf)
            # fresh tables have no planner statistics; without them PostgreSQL
            # picks nested loops for the first dbt build
            cur.execute(f"analyze {target}")
        return data.num_rows

    # -- added for the sync engine (issue 5) -----------------------------------
    def apply_duckdb_settings(self) -> dict[str, str]:
        """Apply ``KAIROS_DUCKDB_MEMORY_LIMIT`` (e.g. ``512MB``) and
        ``KAIROS_DUCKDB_THREADS`` to this DuckDB connection; returns what was set.

        A no-op on PostgreSQL and when the variables are unset, so callers may
        always call it. Values are checked before they reach SQL.
        """
        import os

        applied: dict[str, str] = {}
        if self.dialect != "duckdb":
            return applied
        limit = os.environ.get("KAIROS_DUCKDB_MEMORY_LIMIT", "").strip()
        if limit:
            if not re.match(r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$", limit, re.IGNORECASE):
                raise ValueError(f"KAIROS_DUCKDB_MEMORY_LIMIT={limit!r} is not a size such as 512MB or 2GB")
            self._conn.execute(f"set memory_limit = '{limit}'")
            applied["memory_limit"] = limit
        threads = os.environ.get("KAIROS_DUCKDB_THREADS", "").strip()
        if threads:
            if not threads.isdigit() or int(threads) < 1:
                raise ValueError(f"KAIROS_DUCKDB_THREADS={threads!r} must be a positive integer")
            self._conn.execute(f"set threads = {int(threads)}")
            applied["threads"] = threads
        return applied

    @contextmanager
    def stage_arrow(self, name: str, data: pa.Table) -> Iterator[str]:
        """Make an Arrow table queryable as ``name`` for the duration of the block.

        DuckDB registers the table itself (no copy); PostgreSQL gets a session
        temporary table filled with one COPY. Yields the SQL name to use.
        """
        quoted = quote_ident(name)
        if self.dialect == "duckdb":
            import duckdb

            self._conn.register(name, data)
            try:
                yield quoted
            finally:
                try:
                    self._conn.unregister(name)
                except duckdb.Error:  # an aborted transaction refuses it; the error that aborted it matters
                    pass
            return
        # an all-null column comes back from psycopg2 without a type: stage it as text
        columns = ", ".join(
            f"{quote_ident(f.name)} {'text' if pa.types.is_null(f.type) else _pg_type(f.type)}" for f in data.schema
        )
        with self._conn.cursor() as cur:
            cur.execute(f"drop table if exists pg_temp.{quoted}")
            cur.execute(f"create temporary table {quoted} ({columns})")
            if data.num_rows:
                for batch in data.to_batches(max_chunksize=200_000):
                    buf = io.BytesIO()
                    pacsv.write_csv(
                        pa.Table.from_batches([batch], schema=data.schema),
                        buf,
                        write_options=pacsv.WriteOptions(include_header=False, quoting_style="all_valid"),
                    )
                    buf.seek(0)
                    cur.copy_expert(f"copy {quoted} from stdin with (format csv, null '')", buf)
        try:
            yield quoted
        finally:
            import psycopg2

            try:
                with self._conn.cursor() as cur:
                    cur.execute(f"drop table if exists pg_temp.{quoted}")
            except psycopg2.Error:  # an aborted transaction refuses it (and drops it on rollback)
                pass

    def describe(self, sql: str) -> list[tuple[str, str]]:
        """``(column name, SQL type)`` of a query's result, without running it."""
        if self.dialect == "duckdb":
            return [(r[0], r[1]) for r in self._conn.execute(f"describe {sql}").fetchall()]
        with self._conn.cursor() as cur:
            cur.execute(f"create temporary view _kairos_describe as {sql}")
            try:
                cur.execute(
                    "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                    "where attrelid = 'pg_temp._kairos_describe'::regclass and attnum > 0 and not attisdropped "
                    "order by attnum"
                )
                return [(r[0], r[1]) for r in cur.fetchall()]
            finally:
                cur.execute("drop view if exists pg_temp._kairos_describe")

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(settings: Settings | None = None, read_only: bool = False) -> Warehouse:
    """Open the warehouse named by the settings (``KAIROS_TARGET``)."""
    return Warehouse(settings, read_only=read_only)
