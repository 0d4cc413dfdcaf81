"""Sync definitions: one YAML file per sync in ``syncs/definitions/``.

A definition names the dbt model to read (a ``sync_*`` model in schema
``syncs``), its primary key, the mode, the columns to send and the
destination. Everything is validated when the files are loaded, so a typo
fails fast with the file and the field in the message instead of half-way
through a run. Example::

    description: Abandoned-cart reminder emails, as CSV files for the ESP import.
    model: sync_file__abandoned_cart_intents
    mode: insert                 # insert | upsert | mirror
    primary_key: intent_id
    channel: email               # also: which pull-feed token may read the list
    batch_size: 10000
    concurrency: 1               # batches in flight (default: the destination's, 4 for APIs, 1 for files)
    rate_limit_per_second: 20    # API destinations: requests (or rows) per second
    alert_rejection_rate: 0.05   # above this share of rejected rows: alert, and the run fails
    commit_rows: 122880          # rows per ledger commit group
    schedule: "0 * * * *"        # cron, or `trigger: model_updated` (one of the two, optional)
    destination:
      type: file
      format: csv
      folder: abandoned_cart_email
    owner: crm-team
    tags: [email, abandoned_cart]

Modes: ``insert`` sends each record once (message intents, events);
``upsert`` sends new and changed rows (profiles, traits); ``mirror`` sends
new and changed rows and removes rows that left the model (audience lists).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kairos.settings import PROJECT_ROOT
from kairos.warehouse import quote_ident

#: Every mode the engine knows about (see the module docstring).
KNOWN_MODES = ("insert", "upsert", "mirror")
IMPLEMENTED_MODES = frozenset(KNOWN_MODES)

#: Overrides the default definitions folder (deployments, tests, the CLI).
DEFINITIONS_ENV = "KAIROS_SYNCS_DIR"

DEFAULT_SCHEMA = "syncs"
DEFAULT_BATCH_SIZE = 10_000
MAX_BATCH_SIZE = 1_000_000
DEFAULT_ALERT_REJECTION_RATE = 0.05
# one DuckDB row group: appends of whole row groups go straight to the
# database file instead of waiting in memory for a checkpoint. The engine cuts
# a group at exactly this many rows (splitting a batch if need be): groups of
# 123 batches of 1,000 left underfilled row groups in the ledger, which the
# first checkpoint after a delete merged (0.8-1 s of the first 1% change)
DEFAULT_COMMIT_ROWS = 122_880
MAX_CONCURRENCY = 64
TRIGGERS = ("model_updated", "manual")

_REQUIRED = ("model", "mode", "primary_key", "destination")
_OPTIONAL = ("name", "description", "schema", "batch_size", "fields", "channel", "owner", "tags", "concurrency",
             "rate_limit_per_second", "alert_rejection_rate", "commit_rows", "schedule", "trigger")
_ALLOWED = frozenset(_REQUIRED + _OPTIONAL)

# sync names become file names, lock keys and ledger values: keep them plain
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# the channel is written into the ledger as a literal, so it is just as plain
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
# columns the engine adds to every streamed batch; payload names may not clash
RESERVED_PREFIX = "_kairos_"
# cron: five fields of digits, names, * / , - (or a macro such as @hourly)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")
_CRON_MACROS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}


class SyncConfigError(ValueError):
    """A sync definition is invalid; the message names the file and the field(s)."""


@dataclass(frozen=True)
class DestinationConfig:
    """Where a sync delivers: a destination type plus its validated options."""

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """A short tag for UIs (Dagster kinds): the file format, else the type."""
        return str(self.options.get("format", self.type))


@dataclass(frozen=True)
class SyncConfig:
    """One validated sync definition."""

    name: str
    description: str
    model: str
    mode: str
    primary_key: str
    destination: DestinationConfig
    schema: str = DEFAULT_SCHEMA
    batch_size: int = DEFAULT_BATCH_SIZE
    #: ``(output_name, source_column)`` pairs; None sends every model column as is
    fields: tuple[tuple[str, str], ...] | None = None
    #: contact-history channel for the ledger when the model has no ``channel`` column
    channel: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    path: Path | None = None
    #: batches in flight at once; None: the destination's ``concurrency`` option, else its default
    concurrency: int | None = None
    #: share of rejected rows (of those handed over) above which an alert fires and the run fails
    alert_rejection_rate: float = DEFAULT_ALERT_REJECTION_RATE
    #: rows per ledger commit group (bounded below by one batch)
    commit_rows: int = DEFAULT_COMMIT_ROWS
    schedule: str | None = None  # cron expression, for the orchestrator
    trigger: str | None = None  # 'model_updated' | 'manual', for the orchestrator

    @property
    def relation(self) -> tuple[str, str]:
        """``(schema, model)`` of the model the sync reads."""
        return self.schema, self.model

    @property
    def keeps_snapshot(self) -> bool:
        """Whether the destination's current content is kept in the snapshot table
        (upsert and mirror compare with it; pull feeds serve it)."""
        return self.mode != "insert" or self.destination.type == "feed"


def default_definitions_dir() -> Path:
    """``$KAIROS_SYNCS_DIR`` if set, else ``<project>/syncs/definitions``."""
    value = os.environ.get(DEFINITIONS_ENV)
    return Path(value).resolve() if value else PROJECT_ROOT / "syncs" / "definitions"


def load_sync_configs(directory: Path | None = None) -> dict[str, SyncConfig]:
    """Read and validate every ``*.yml`` sync definition in ``directory``.

    Returns the syncs by name, sorted. Raises :class:`SyncConfigError` naming
    the file and every bad field when a definition is invalid.
    """
    directory = Path(directory) if directory is not None else default_definitions_dir()
    if not directory.is_dir():
        raise SyncConfigError(f"{directory}: sync definitions folder does not exist")
    misnamed = sorted(p.name for p in directory.glob("*.yaml"))
    if misnamed:
        raise SyncConfigError(f"{directory}: sync definitions end in .yml, rename {', '.join(misnamed)}")
    configs: dict[str, SyncConfig] = {}
    for path in sorted(directory.glob("*.yml")):
        config = load_sync_config(path)
        configs[config.name] = config
    return configs


def load_sync_config(path: Path) -> SyncConfig:
    """Read and validate one sync definition file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise SyncConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_sync_config(raw, path=path)


def parse_sync_config(raw: Any, *, path: Path | None = None, name: str | None = None) -> SyncConfig:
    """Validate a parsed definition (a mapping); the name defaults to the file stem."""
    where = str(path) if path is not None else "<sync definition>"
    if not isinstance(raw, Mapping):
        raise SyncConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
    errors: list[str] = []

    def err(field_name: str, problem: str) -> None:
        errors.append(f"{field_name}: {problem}")

    for key in sorted(set(raw) - _ALLOWED, key=str):
        err(str(key), f"unknown key (allowed: {', '.join(sorted(_ALLOWED))})")
    for key in _REQUIRED:
        if raw.get(key) in (None, ""):
            err(key, "missing required key")

    # name: the file stem, so `kairos sync <name>` always finds the file
    stem = path.stem if path is not None else None
    sync_name = raw.get("name", name or stem)
    if not isinstance(sync_name, str) or not _NAME.match(sync_name):
        err("name", f"{sync_name!r} must be lower-case letters, digits and underscores (max 63)")
    elif stem is not None and sync_name != stem:
        err("name", f"{sync_name!r} must match the file name {stem!r}")

    def ident(key: str, value: Any) -> str:
        try:
            quote_ident(value)
        except ValueError:
            err(key, f"{value!r} is not a plain SQL identifier (letters, digits, underscores)")
        return value

    model = ident("model", raw["model"]) if raw.get("model") not in (None, "") else ""
    schema = ident("schema", raw.get("schema", DEFAULT_SCHEMA))
    primary_key = ident("primary_key", raw["primary_key"]) if raw.get("primary_key") not in (None, "") else ""

    mode = raw.get("mode")
    if mode not in (None, ""):
        if mode not in KNOWN_MODES:
            err("mode", f"unknown mode {mode!r} (known: {', '.join(KNOWN_MODES)})")
        elif mode not in IMPLEMENTED_MODES:
            err("mode", f"mode {mode!r} is planned but not implemented yet (available: {', '.join(sorted(IMPLEMENTED_MODES))})")

    batch_size = raw.get("batch_size", DEFAULT_BATCH_SIZE)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        err("batch_size", f"{batch_size!r} must be an integer between 1 and {MAX_BATCH_SIZE}")

    fields = _parse_fields(raw.get("fields"), err, ident)

    description = raw.get("description", "")
    if not isinstance(description, str):
        err("description", "must be text")
    channel = raw.get("channel")
    if channel is not None and (not isinstance(channel, str) or not _CHANNEL.match(channel)):
        err("channel", f"{channel!r} must be a short lower-case name such as 'email'")
    owner = raw.get("owner")
    if owner is not None and not isinstance(owner, str):
        err("owner", "must be text")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        err("tags", "must be a list of non-empty strings")
        tags = []

    concurrency = raw.get("concurrency")
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                    or not 1 <= concurrency <= MAX_CONCURRENCY):
        err("concurrency", f"{concurrency!r} must be an integer between 1 and {MAX_CONCURRENCY}")
        concurrency = None
    rate = raw.get("rate_limit_per_second")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
        err("rate_limit_per_second", f"{rate!r} must be a positive number")
        rate = None
    alert_rate = raw.get("alert_rejection_rate", DEFAULT_ALERT_REJECTION_RATE)
    if isinstance(alert_rate, bool) or not isinstance(alert_rate, (int, float)) or not 0 <= alert_rate <= 1:
        err("alert_rejection_rate", f"{alert_rate!r} must be a number between 0 and 1")
        alert_rate = DEFAULT_ALERT_REJECTION_RATE
    commit_rows = raw.get("commit_rows", DEFAULT_COMMIT_ROWS)
    if isinstance(commit_rows, bool) or not isinstance(commit_rows, int) or not 1 <= commit_rows <= 10_000_000:
        err("commit_rows", f"{commit_rows!r} must be an integer between 1 and 10000000")
        commit_rows = DEFAULT_COMMIT_ROWS
    schedule = raw.get("schedule")
    if schedule is not None and not _valid_cron(schedule):
        err("schedule", f"{schedule!r} is not a cron expression (five fields, e.g. '0 * * * *', or @hourly)")
    trigger = raw.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        err("trigger", f"{trigger!r} is not one of {', '.join(TRIGGERS)}")
    if schedule is not None and trigger is not None:
        err("schedule", "set a schedule or a trigger, not both")

    destination = _parse_destination(raw.get("destination"), mode, err,
                                     {"concurrency": concurrency, "rate_limit_per_second": rate})

    if errors:
        raise SyncConfigError(f"{where}: invalid sync definition:\n  " + "\n  ".join(errors))
    assert destination is not None
    return SyncConfig(
        name=sync_name,
        description=description.strip(),
        model=model,
        mode=mode,
        primary_key=primary_key,
        destination=destination,
        schema=schema,
        batch_size=batch_size,
        fields=fields,
        channel=channel,
        owner=owner,
        tags=tuple(tags),
        path=path,
        concurrency=concurrency,
        alert_rejection_rate=float(alert_rate),
        commit_rows=commit_rows,
        schedule=schedule,
        trigger=trigger,
    )


def _valid_cron(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text in _CRON_MACROS:
        return True
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)


def _parse_fields(value: Any, err: Any, ident: Any) -> tuple[tuple[str, str], ...] | None:
    """``fields`` as a list of columns or a mapping ``output_name: source_column``."""
    if value is None:
        return None
    if isinstance(value, list):
        pairs = [(v, v) for v in value]
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        err("fields", "must be a list of columns or a mapping of output name to column")
        return None
    if not pairs:
        err("fields", "must not be empty (leave it out to send every column)")
        return None
    seen: set[str] = set()
    for out, src in pairs:
        ident("fields", out)
        ident("fields", src)
        if isinstance(out, str) and out.startswith(RESERVED_PREFIX):
            err("fields", f"{out!r}: names starting with {RESERVED_PREFIX!r} are reserved")
        if out in seen:
            err("fields", f"{out!r} appears twice")
        seen.add(out)
    return tuple((str(o), str(s)) for o, s in pairs)


def _parse_destination(value: Any, mode: Any, err: Any, engine_options: Mapping[str, Any] | None = None
                       ) -> DestinationConfig | None:
    """``destination: {type: ..., <options>}`` checked by the destination class itself.

    ``engine_options`` (top-level ``concurrency`` and ``rate_limit_per_second``)
    are handed to the destination when it has an option of that name (API
    destinations size their connection pool and token bucket with them).
    """
    from syncs.destinations.base import DESTINATION_TYPES, destination_class

    if value is None:
        return None  # already reported as missing
    if not isinstance(value, Mapping):
        err("destination", "must be a mapping with a 'type' and its options")
        return None
    dtype = value.get("type")
    if dtype not in DESTINATION_TYPES:
        err("destination.type", f"unknown destination type {dtype!r} (known: {', '.join(sorted(DESTINATION_TYPES))})")
        return None
    cls = destination_class(dtype)
    options = {k: v for k, v in value.items() if k != "type"}
    for key, top in (engine_options or {}).items():
        if top is None:
            continue
        if key in options:
            if options[key] != top:
                err(key, f"{top!r} here but destination.{key} is {options[key]!r}; set it in one place")
            continue
        try:
            accepts = key in cls.validate_options(dict(options))
        except ValueError:
            accepts = key == "concurrency"  # reported below; do not add a second error
        if accepts:
            options[key] = top
        elif key == "rate_limit_per_second":
            err(key, f"destination type {dtype!r} has no rate limit")
    try:
        options = cls.validate_options(options)
    except ValueError as exc:
        err("destination", str(exc))
        return None
    if mode in IMPLEMENTED_MODES and mode not in cls.supported_modes:
        err("mode", f"destination {dtype!r} does not support mode {mode!r}")
    return DestinationConfig(type=dtype, options=options)


# -- dbt exposures -----------------------------------------------------------------------

#: where the exposures of every sync live (checked against the definitions by a test)
EXPOSURES_PATH = PROJECT_ROOT / "dbt_project" / "models" / "syncs" / "_syncs__exposures.yml"


def render_exposures(configs: Mapping[str, SyncConfig]) -> dict[str, Any]:
    """The dbt exposures document for ``configs``: one exposure per sync, so the
    dbt docs show where each ``sync_*`` model's data goes."""
    exposures = []
    for config in sorted(configs.values(), key=lambda c: c.name):
        meta: dict[str, Any] = {"destination": config.destination.type, "mode": config.mode,
                                "primary_key": config.primary_key}
        if config.channel:
            meta["channel"] = config.channel
        if config.schedule:
            meta["schedule"] = config.schedule
        if config.trigger:
            meta["trigger"] = config.trigger
        exposure: dict[str, Any] = {
            "name": config.name,
            "label": config.name.replace("_", " ").capitalize(),
            "type": "application",
            "maturity": "medium",
            "description": config.description or f"Sync {config.name}.",
            "depends_on": [f"ref('{config.model}')"],
            "owner": {"name": config.owner or "kairos"},
            "config": {"meta": {"kairos_sync": meta}, "tags": ["sync", *config.tags]},
        }
        exposures.append(exposure)
    return {"version": 2, "exposures": exposures}


def write_exposures(configs: Mapping[str, SyncConfig] | None = None, path: Path | None = None) -> Path:
    """Write :func:`render_exposures` to ``dbt_project/models/syncs/_syncs__exposures.yml``."""
    configs = configs if configs is not None else load_sync_configs()
    path = Path(path) if path is not None else EXPOSURES_PATH
    header = ("# One dbt exposure per sync definition (syncs/definitions/*.yml), so the dbt docs show\n"
              "# where each sync_* model's data goes. Generated: python -m syncs.cli --write-exposures\n")
    path.write_text(header + yaml.safe_dump(render_exposures(configs), sort_keys=False, width=100), encoding="utf-8")
    return path
