"""The one interface every destination implements.

The engine owns the warehouse, the ledger and batching; a destination only
delivers batches and says, per row, what happened. Life cycle per run::

    dest = DestinationClass(sync_config, settings)
    dest.open(run_id)
    dest.batch_delivered(batch_id)   # crash recovery, for batches left 'pending'
    dest.send_batch(batch)           # once per batch -> BatchOutcome
    dest.close()

Rules for implementers:

* ``send_batch`` gets an Arrow table (the payload columns, already renamed) and
  the record keys aligned with it. Work on whole columns; avoid a Python loop
  per row where the format allows it.
* Return ``BatchOutcome()`` when every row was delivered. Rows that were not
  go in ``row_outcomes`` with status ``rejected`` (the destination refused the
  row for good, e.g. an invalid address: not retried until the row changes)
  or ``failed`` (not delivered, retried next run). Rows may also be listed
  with status ``sent`` to record a ``destination_message_id``.
* Raise for a failure of the whole batch; the engine then asks
  :meth:`Destination.batch_delivered` to learn whether it landed anyway.
* A batch must be delivered under its ``batch_id`` so that
  ``batch_delivered`` can answer after a crash (file name, idempotency key).
  After a crash the engine redelivers a batch it cannot confirm with the SAME
  ``batch_id`` and the same rows, so a receiver that deduplicates on the id
  (``Idempotency-Key``) applies it once.
* ``batch.operation`` is ``insert`` (insert mode), ``upsert`` (new and changed
  rows of upsert and mirror modes) or ``delete`` (mirror-mode removals: the
  rows are the payload as last delivered).
* ``send_batch`` may be called from several threads at once (``concurrency``
  in the definition; default :attr:`Destination.default_concurrency`, or the
  destination's own ``concurrency`` option): keep per-batch state local.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import json
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

if TYPE_CHECKING:
    from kairos.settings import Settings
    from syncs.config import SyncConfig

#: Per-row outcomes a destination may report (see :class:`BatchOutcome`).
ROW_OUTCOME_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("status", pa.string()),  # 'sent' | 'rejected' | 'failed'
        ("status_code", pa.int32()),
        ("reason", pa.string()),
        ("destination_message_id", pa.string()),
    ]
)
ROW_STATUSES = frozenset({"sent", "rejected", "failed"})
#: what a batch asks of the destination
OPERATIONS = ("insert", "upsert", "delete")


@dataclass(frozen=True)
class Batch:
    """One batch on its way to a destination."""

    batch_id: str  # deterministic: "<run_id>-<seq:05d>"; name the delivery after it
    seq: int  # 1-based position in the run
    rows: pa.Table  # payload columns only, named as the destination should see them
    keys: pa.Array  # record key (string) of each row, aligned with ``rows``
    operation: str = "insert"  # 'insert' | 'upsert' | 'delete' (mirror removals)
    #: set by the engine: ``(group encoder, offset)`` so a whole commit group is encoded at once
    json_cache: Any = field(default=None, repr=False, compare=False)

    @property
    def num_rows(self) -> int:
        return self.rows.num_rows

    def json_rows(self) -> list[str]:
        """Each row as compact JSON object text (see :func:`encode_json_rows`);
        ``"[" + ",".join(batch.json_rows()) + "]"`` is the JSON array of the rows."""
        if self.json_cache is not None:
            encoder, offset = self.json_cache
            return encoder.slice(offset, self.num_rows)
        return encode_json_rows(self.rows)


@dataclass
class BatchOutcome:
    """What happened to one batch.

    ``row_outcomes`` is None when every row was delivered; otherwise a table
    with :data:`ROW_OUTCOME_SCHEMA` listing the rows that were not (rows not
    listed count as sent).
    """

    outputs: list[str] = field(default_factory=list)  # files or URLs this batch produced
    row_outcomes: pa.Table | None = None

    def __post_init__(self) -> None:
        if self.row_outcomes is not None:
            table = self.row_outcomes.select(ROW_OUTCOME_SCHEMA.names).cast(ROW_OUTCOME_SCHEMA)
            bad = set(table.column("status").to_pylist()) - ROW_STATUSES
            if bad:
                raise ValueError(f"unknown row status(es) {sorted(map(str, bad))}; use {sorted(ROW_STATUSES)}")
            self.row_outcomes = table


class Destination(ABC):
    """Base class of every destination (one module per destination type)."""

    #: the ``destination.type`` value that selects this class
    type_name: ClassVar[str] = ""
    #: sync modes this destination can serve
    supported_modes: ClassVar[frozenset[str]] = frozenset({"insert"})
    #: batches in flight when neither the definition nor the options say (APIs: 4)
    default_concurrency: ClassVar[int] = 4
    #: True when :meth:`batch_delivered` answers for certain (files). Otherwise a
    #: batch that failed with a time-out or a server error may have arrived: the
    #: engine keeps it pending and redelivers it under the same id next run.
    confirms_delivery: ClassVar[bool] = False

    def __init__(self, sync: "SyncConfig", settings: "Settings") -> None:
        self.sync = sync
        self.settings = settings
        self.options: Mapping[str, Any] = sync.destination.options
        self.run_id: str | None = None

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check a definition's destination options and fill defaults.

        Raise ``ValueError("destination.<option>: problem")`` on a bad option.
        The default accepts no options.
        """
        if options:
            raise ValueError(f"destination.{sorted(options)[0]}: unknown option for type {cls.type_name!r}")
        return {}

    def open(self, run_id: str) -> None:
        """Prepare for a run (connections, folders, clean-up of partial work)."""
        self.run_id = run_id

    @abstractmethod
    def send_batch(self, batch: Batch) -> BatchOutcome:
        """Deliver one batch; see the module docstring for the contract."""

    def batch_delivered(self, batch_id: str) -> bool:
        """Whether a batch the ledger still holds as 'pending' did arrive.

        Called after a crash. True makes the engine mark the batch sent
        without resending it; False makes it resend the rows. The default
        (cannot tell) resends: right for destinations that deduplicate on an
        idempotency key, at-least-once otherwise.
        """
        return False

    def close(self) -> None:
        """Release resources; called once at the end of a run, also after errors."""

    def describe(self) -> str:
        """Where this destination delivers, for log lines."""
        return self.type_name

    def __enter__(self) -> "Destination":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: destination type (the ``destination.type`` of a definition) -> "module:Class".
#: Modules are imported only when a sync uses them, so one destination's
#: dependencies never slow down another. (Kept here rather than in the
#: package ``__init__`` so it works however the package is installed.)
DESTINATION_TYPES: dict[str, str] = {
    "file": "syncs.destinations.file:FileDestination",
    "feed": "syncs.feeds:FeedDestination",
    "webhook": "syncs.destinations.webhook:WebhookDestination",
    "braze": "syncs.destinations.esp:BrazeDestination",
    "twilio_sms": "syncs.destinations.sms:TwilioSmsDestination",
    "fcm": "syncs.destinations.push:FcmPushDestination",
    "meta_custom_audience": "syncs.destinations.ad_audiences:MetaCustomAudienceDestination",
    "google_customer_match": "syncs.destinations.ad_audiences:GoogleCustomerMatchDestination",
}


def destination_class(type_name: str) -> type[Destination]:
    """The class implementing a destination type."""
    try:
        target = DESTINATION_TYPES[type_name]
    except KeyError:
        raise ValueError(
            f"unknown destination type {type_name!r} (known: {', '.join(sorted(DESTINATION_TYPES))})"
        ) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


#: Fault injection for the crash tests: ``KAIROS_SYNC_FAULT=<step>[:<batch seq>]``
#: kills the process with SIGKILL when the engine or a destination reaches that
#: step. Never set it in production.
FAULT_ENV = "KAIROS_SYNC_FAULT"


def fault_point(step: str, seq: int) -> None:
    """Die here (SIGKILL, no clean-up at all) if ``$KAIROS_SYNC_FAULT`` names this step."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    want_step, _, want_seq = spec.partition(":")
    if want_step == step and (not want_seq or int(want_seq) == seq):
        os.kill(os.getpid(), signal.SIGKILL)


# -- fast JSON for API destinations -------------------------------------------------------

def encode_json_rows(table: pa.Table) -> list[str]:
    """Each row of ``table`` as compact JSON object text, built column by column
    with Arrow compute instead of a Python dict per row (about 10x faster for a
    1,000-row batch).

    The text equals ``json.dumps(row, default=..., ensure_ascii=False,
    separators=(",", ":"))`` of ``table.to_pylist()`` with decimals as strings,
    dates and timestamps in ISO format and bytes as hex (the conventions of
    ``syncs.http.json_default``), except that floats are written by Arrow
    (the same numbers, possibly another notation, e.g. ``1e+20``). Columns of
    other types (nested, time zones, durations) fall back to ``json.dumps``.
    """
    return encode_json_array(table).to_pylist() if table.num_rows else []


def encode_json_array(table: pa.Table) -> pa.Array:
    """:func:`encode_json_rows` as an Arrow string array (one JSON object per row)."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return pa.array([], pa.string())
    # one join over all the pieces ('{"a":', a, ',"b":', b, ..., '}'): each row's text
    # is assembled once, not once per nesting level; the quotes around a text column
    # without nulls or characters to escape go into the neighbouring literal pieces
    pieces: list[Any] = []
    literal = ""
    for i, field_ in enumerate(table.schema):
        column = table.column(i).combine_chunks()
        literal += ("{" if i == 0 else ",") + json.dumps(field_.name, ensure_ascii=False) + ":"
        if pa.types.is_string(field_.type) and column.null_count == 0 and not _text_needs_escaping(column):
            pieces += [pa.scalar(literal + '"', pa.string()), column]
            literal = '"'
            continue
        pieces += [pa.scalar(literal, pa.string()), _json_values(column, field_.type, pc)]
        literal = ""
    pieces.append(pa.scalar(literal + "}", pa.string()))
    return pc.binary_join_element_wise(*pieces, "")


def _text_needs_escaping(column: pa.Array) -> bool:
    """Whether a ``string`` array holds a byte JSON must escape (``"``, ``\\`` or a
    control character), checked over its value bytes at once (numpy, no per-row work)."""
    import numpy as np

    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    data = column.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return False
    values = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
    return bool(((values < 0x20) | (values == 0x22) | (values == 0x5C)).any())


def _json_values(column: pa.Array, arrow_type: pa.DataType, pc: Any) -> pa.Array:
    """JSON text of each value of one column ('null' for nulls)."""
    null = pa.scalar("null")
    if pa.types.is_dictionary(arrow_type):
        return _json_values(column.cast(arrow_type.value_type), arrow_type.value_type, pc)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        column = column.cast(pa.string())
        # one scan finds what needs escaping; most columns need none (no copy then)
        if _text_needs_escaping(column):
            if pc.any(pc.match_substring_regex(column, "[\\x00-\\x1f]")).as_py():
                return _json_fallback(column)  # control characters: let json escape them
            column = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise(pa.scalar('"'), column, pa.scalar('"'), "")
    elif pa.types.is_boolean(arrow_type):
        text = pc.if_else(column, pa.scalar("true"), pa.scalar("false"))
    elif pa.types.is_integer(arrow_type):
        text = column.cast(pa.string())
    elif pa.types.is_floating(arrow_type):
        as_text = column.cast(pa.string())
        # Python writes 1.0 where Arrow writes 1; NaN and infinities as Python does
        plain = pc.invert(pc.match_substring_regex(as_text, "[.eEnN]"))
        text = pc.if_else(plain, pc.binary_join_element_wise(as_text, pa.scalar(".0"), ""), as_text)
        if pc.any(pc.invert(pc.is_finite(column))).as_py():
            return _json_fallback(column)
    elif pa.types.is_decimal(arrow_type):
        text = pc.binary_join_element_wise(pa.scalar('"'), column.cast(pa.string()), pa.scalar('"'), "")
    elif pa.types.is_date(arrow_type):
        text = pc.binary_join_element_wise(pa.scalar('"'), column.cast(pa.date32()).cast(pa.string()),
                                           pa.scalar('"'), "")
    elif pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        micros = column.cast(pa.timestamp("us"))
        seconds = micros.cast(pa.timestamp("s"), safe=False)
        if pc.any(pc.not_equal(micros.cast(pa.int64()), pc.multiply(seconds.cast(pa.int64()), 1_000_000))).as_py():
            return _json_fallback(column)  # isoformat adds .ffffff only when non-zero
        iso = pc.replace_substring(seconds.cast(pa.string()), " ", "T", max_replacements=1)
        text = pc.binary_join_element_wise(pa.scalar('"'), iso, pa.scalar('"'), "")
    elif pa.types.is_null(arrow_type):
        return pa.array(["null"] * len(column), pa.string())
    else:
        return _json_fallback(column)
    return pc.fill_null(text, null)


def _json_fallback(column: pa.Array) -> pa.Array:
    return pa.array(
        [json.dumps(v, default=_json_default, ensure_ascii=False, separators=(",", ":")) for v in column.to_pylist()],
        pa.string(),
    )


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
