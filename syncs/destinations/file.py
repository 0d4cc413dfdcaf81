"""File destination: one file per batch under the output folder, CSV, JSON
Lines or Parquet, each with a manifest.

Layout (``KAIROS_OUTPUT_DIR`` = ``output/`` by default)::

    output/<folder>/<run_id>-<seq>.csv                    a batch of rows to add or update (the commit point)
    output/<folder>/<run_id>-<seq>.manifest.json          operation, rows, bytes, sha256, columns
    output/<folder>/<run_id>-<seq>.delete.csv             mirror mode: rows that left the model
    output/<folder>/<run_id>-<seq>.delete.manifest.json

Modes: insert and upsert batches are plain data files (the manifest names
the operation); mirror-mode removals go to ``.delete.`` files holding the
rows as last delivered, so an importer can apply adds and removals in batch
order. Data is written straight from Arrow (CSV and Parquet by pyarrow's
writers, JSON Lines by the column-wise encoder), without a loop per row.

Every file is written to a hidden temporary name, flushed to disk and renamed
(``os.replace``), so a reader never sees half a file: a data file that exists
is complete, and that is what the engine's crash recovery relies on (the
batch id is in the name). A consumer that wants a checksum waits for the
manifest; one missing after a crash is rebuilt by the next run.

Definition options::

    destination:
      type: file
      format: csv          # csv (default) | jsonl | parquet
      folder: abandoned_cart_email   # under the output folder; default: the sync name
      delimiter: ","       # csv only
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from syncs.destinations.base import Batch, BatchOutcome, Destination, fault_point

FORMATS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}  # format -> file extension
_OPTIONS = {"format", "folder", "delimiter"}
_TMP_SUFFIX = ".tmp"


class FileDestination(Destination):
    """Writes each batch atomically to its own file (see the module docstring)."""

    type_name: ClassVar[str] = "file"
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert", "upsert", "mirror"})
    default_concurrency: ClassVar[int] = 1  # a disk, not an API: more writers rarely help
    confirms_delivery: ClassVar[bool] = True  # the batch file exists complete or not at all

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ValueError(f"destination.{unknown[0]}: unknown option for type 'file' (allowed: {', '.join(sorted(_OPTIONS))})")
        fmt = options.get("format", "csv")
        if fmt not in FORMATS:
            raise ValueError(f"destination.format: {fmt!r} is not one of {', '.join(FORMATS)}")
        folder = options.get("folder")
        if folder is not None:
            parts = PurePosixPath(str(folder)).parts if isinstance(folder, str) else ()
            if not parts or PurePosixPath(folder).is_absolute() or ".." in parts or "\\" in folder:
                raise ValueError(f"destination.folder: {folder!r} must be a relative folder inside the output folder")
        delimiter = options.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ValueError(f"destination.delimiter: {delimiter!r} must be one character (not a quote or newline)")
        if "delimiter" in options and fmt != "csv":
            raise ValueError("destination.delimiter: only applies to format csv")
        return {"format": fmt, "folder": folder, "delimiter": delimiter}

    def __init__(self, sync: Any, settings: Any) -> None:
        super().__init__(sync, settings)
        self.format: str = self.options.get("format", "csv")
        self.folder: Path = Path(settings.output_dir) / (self.options.get("folder") or sync.name)
        self.delimiter: str = self.options.get("delimiter", ",")

    def describe(self) -> str:
        return f"{self.format} files in {self.folder}"

    # -- life cycle -----------------------------------------------------------
    def open(self, run_id: str) -> None:
        super().open(run_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        # temporary files only survive a crash; one sync runs at a time, so
        # any left here are garbage (their batches are resent or recovered)
        for stale in self.folder.glob(f".*{_TMP_SUFFIX}"):
            stale.unlink(missing_ok=True)

    def send_batch(self, batch: Batch) -> BatchOutcome:
        infix = ".delete" if batch.operation == "delete" else ""
        path = self.folder / f"{batch.batch_id}{infix}.{FORMATS[self.format]}"
        tmp = path.with_name(f".{path.name}{_TMP_SUFFIX}")
        self._write(batch.rows, tmp)
        size, sha256 = _fsync_and_hash(tmp)
        fault_point("before_replace", batch.seq)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        # the data file is the commit point: from here on the batch is delivered
        fault_point("after_replace", batch.seq)
        self._write_manifest(path, batch.batch_id, rows=batch.num_rows, size=size, sha256=sha256,
                             schema=batch.rows.schema, operation=batch.operation)
        return BatchOutcome(outputs=[str(path)])

    def batch_delivered(self, batch_id: str) -> bool:
        for ext in FORMATS.values():  # the format may have changed since the crash
            for infix in ("", ".delete"):
                path = self.folder / f"{batch_id}{infix}.{ext}"
                if path.exists():
                    if not self._manifest_path(path).exists():
                        self._rebuild_manifest(path, batch_id)
                    return True
        return False

    # -- encoding ---------------------------------------------------------------
    def _write(self, table: pa.Table, tmp: Path) -> None:
        """Write the batch to ``tmp`` straight from Arrow (no copy of the file in memory)."""
        if self.format == "csv":
            nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
            if nested:
                raise ValueError(
                    f"columns {nested} are nested (list/struct/map), which CSV cannot hold: "
                    "cast them to text in the sync model or use format jsonl/parquet"
                )
            pacsv.write_csv(table, str(tmp),
                            write_options=pacsv.WriteOptions(include_header=True, delimiter=self.delimiter,
                                                             batch_size=65_536))
        elif self.format == "parquet":
            pq.write_table(table, str(tmp), compression="zstd")
        else:  # jsonl: one object per line, encoded column by column
            from syncs.destinations.base import encode_json_rows

            with tmp.open("wb") as fh:
                for start in range(0, table.num_rows, 100_000):
                    lines = encode_json_rows(table.slice(start, 100_000))
                    if lines:
                        fh.write(("\n".join(lines) + "\n").encode())

    # -- manifests ----------------------------------------------------------------
    @staticmethod
    def _manifest_path(path: Path) -> Path:
        return path.with_name(f"{path.stem}.manifest.json")

    def _write_manifest(self, path: Path, batch_id: str, *, rows: int, size: int, sha256: str,
                        schema: pa.Schema | None, recovered: bool = False, operation: str | None = None) -> None:
        manifest = {
            "sync_name": self.sync.name,
            "batch_id": batch_id,
            "operation": operation or ("delete" if path.stem.endswith(".delete")
                                      else "insert" if self.sync.mode == "insert" else "upsert"),
            "file": path.name,
            "format": self.format if path.suffix == f".{FORMATS[self.format]}" else path.suffix.lstrip("."),
            "rows": rows,
            "bytes": size,
            "sha256": sha256,
            "columns": [{"name": f.name, "type": str(f.type)} for f in schema] if schema is not None else None,
            "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if recovered:
            manifest["rebuilt_after_crash"] = True
        _atomic_write(self._manifest_path(path), json.dumps(manifest, indent=2).encode())

    def _rebuild_manifest(self, path: Path, batch_id: str) -> None:
        """A crash between the data file and its manifest: describe the file as it is."""
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        ext = path.suffix.lstrip(".")
        schema: pa.Schema | None
        if ext == "parquet":
            meta = pq.ParquetFile(path)
            rows, schema = meta.metadata.num_rows, meta.schema_arrow
        elif ext == "csv":
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True))
            rows, schema = table.num_rows, None  # types read back from CSV are guesses: leave them out
        else:
            with path.open("rb") as fh:
                rows, schema = sum(1 for line in fh if line.strip()), None
        self._write_manifest(path, batch_id, rows=rows, size=path.stat().st_size, sha256=digest.hexdigest(),
                             schema=schema, recovered=True)


def _fsync_and_hash(path: Path) -> tuple[int, str]:
    """Flush a written file to disk; its size and sha256 (read back from the page cache)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())
        for chunk in iter(lambda: fh.read(4 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _atomic_write(path: Path, data: memoryview | bytes, before_replace: Any = None) -> None:
    """Write to a hidden temporary file, fsync, rename over ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}{_TMP_SUFFIX}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if before_replace is not None:
        before_replace()
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
