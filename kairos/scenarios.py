"""The scenario registry: read and validate it from Python.

The registry lives in ``dbt_project/macros/decisions/scenario_registry.sql``:
YAML wrapped in one dbt macro, because dbt must read it while it parses the
project (the decision models generate one ``ref()`` per scenario from it) and
dbt cannot open other files. dbt validates it on every parse with the macro
``kairos_scenarios()`` (compile errors); this module applies the same rules
with the same messages, for tests, editors and ``python -m kairos.scenarios``.

The format is documented at the top of the registry file.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kairos.settings import PROJECT_ROOT

REGISTRY_PATH = PROJECT_ROOT / "dbt_project" / "macros" / "decisions" / "scenario_registry.sql"
_START = re.compile(r"\{%-?\s*macro\s+kairos_scenario_registry_yaml\(\)\s*-?%\}")
_END = re.compile(r"\{%-?\s*endmacro\s*-?%\}")

CHANNELS = ("email", "sms", "push", "ads", "sales_alert")
MESSAGE_CHANNELS = ("email", "sms", "push")
TRIGGER_KINDS = ("event", "time_rule", "value_threshold", "attribute_change")
CONFLICT = ("wait", "drop")
SEND_TIMES = ("immediate", "active_hour")
PAYLOAD_TYPES = ("string", "number", "string_list")
FALLBACKS = ("send_without", "stop")
CAP_KEYS = ("all_messages", *MESSAGE_CHANNELS)

SCENARIO_REQUIRED = (
    "id", "description", "level", "trigger_kind", "channels", "priority", "on_conflict",
    "cool_down_hours", "holdout_share", "steps", "payload",
)
SCENARIO_OPTIONAL = ("transactional", "send_time", "params", "history_campaigns", "enabled")
STEP_KEYS = ("step", "after_hours", "incentive_pct", "incentive_fallback")
GUARD_KEYS = (
    "default_time_zone", "quiet_hours", "min_hours_between_messages", "max_marketing_intents_per_run",
    "global_control_share", "holdout_salt", "incentive_min_margin_rate", "incentive_max_discounted_order_share",
    "caps",
)
_ID = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_TZ = re.compile(r"^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$")


class ScenarioRegistryError(ValueError):
    """The registry is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("Scenario registry: " + "; ".join(errors))


# --------------------------------------------------------------------------- type checks
# YAML booleans are Python ints: exclude them wherever a number is expected.


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _is_map(v: Any) -> bool:
    return isinstance(v, dict)


def _names(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values)


# --------------------------------------------------------------------------- validation


def _validate_guards(guards: Any, errors: list[str]) -> None:
    if not _is_map(guards):
        errors.append("guards must be a mapping")
        return
    for key in guards:
        if key not in GUARD_KEYS:
            errors.append(f"guards: unknown key '{key}' (allowed: {_names(sorted(GUARD_KEYS))})")
    for key in GUARD_KEYS:
        if key not in guards:
            errors.append(f"guards: missing '{key}'")
    g = guards
    if "default_time_zone" in g and not (_is_str(g["default_time_zone"]) and _TZ.match(g["default_time_zone"])):
        errors.append("guards: default_time_zone must be an IANA time zone name such as Europe/Berlin")
    if "quiet_hours" in g:
        q = g["quiet_hours"]
        if not (_is_map(q) and set(q) == {"start", "end"}):
            errors.append("guards: quiet_hours must be a mapping with start and end")
        else:
            for part in ("start", "end"):
                if not (_is_str(q[part]) and _HHMM.match(q[part])):
                    errors.append(f"guards: quiet_hours.{part} must be a time HH:MM (quoted)")
    if "min_hours_between_messages" in g and not (_is_num(g["min_hours_between_messages"]) and g["min_hours_between_messages"] >= 0):
        errors.append("guards: min_hours_between_messages must be a number >= 0")
    if "max_marketing_intents_per_run" in g and not (_is_int(g["max_marketing_intents_per_run"]) and g["max_marketing_intents_per_run"] >= 1):
        errors.append("guards: max_marketing_intents_per_run must be an integer >= 1")
    if "global_control_share" in g and not (_is_num(g["global_control_share"]) and 0 <= g["global_control_share"] < 1):
        errors.append("guards: global_control_share must be a number from 0 to below 1")
    if "holdout_salt" in g and not (_is_str(g["holdout_salt"]) and g["holdout_salt"].strip()):
        errors.append("guards: holdout_salt must be a non-empty text")
    for key in ("incentive_min_margin_rate", "incentive_max_discounted_order_share"):
        if key in g and not (_is_num(g[key]) and 0 <= g[key] <= 1):
            errors.append(f"guards: {key} must be a number from 0 to 1")
    if "caps" in g:
        caps = g["caps"]
        if not _is_map(caps):
            errors.append("guards: caps must be a mapping")
        else:
            for key, cap in caps.items():
                if key not in CAP_KEYS:
                    errors.append(f"guards: caps: unknown key '{key}' (allowed: {_names(CAP_KEYS)})")
                    continue
                if not _is_map(cap) or any(k not in ("per_local_day", "rolling") for k in cap):
                    errors.append(f"guards: caps.{key} must be a mapping with per_local_day and/or rolling")
                    continue
                if "per_local_day" in cap and not (_is_int(cap["per_local_day"]) and cap["per_local_day"] >= 0):
                    errors.append(f"guards: caps.{key}.per_local_day must be an integer >= 0")
                if "rolling" in cap:
                    rolling = cap["rolling"]
                    ok = _is_list(rolling) and all(
                        _is_map(w) and set(w) == {"hours", "max"} and _is_int(w["hours"]) and w["hours"] >= 1
                        and _is_int(w["max"]) and w["max"] >= 0
                        for w in rolling
                    )
                    if not ok:
                        errors.append(f"guards: caps.{key}.rolling must be a list of {{hours: integer >= 1, max: integer >= 0}}")


def _validate_steps(where: str, steps: Any, transactional: bool, errors: list[str]) -> None:
    if not (_is_list(steps) and steps):
        errors.append(f"{where}: steps must be a non-empty list")
        return
    previous = None
    for i, st in enumerate(steps, start=1):
        if not _is_map(st):
            errors.append(f"{where}: step #{i} must be a mapping")
            continue
        for key in st:
            if key not in STEP_KEYS:
                errors.append(f"{where}: step #{i}: unknown key '{key}' (allowed: {_names(STEP_KEYS)})")
        if st.get("step") != i or not _is_int(st.get("step")):
            errors.append(f"{where}: step #{i}: step must be {i} (steps are numbered 1, 2, ... in order)")
        hours = st.get("after_hours")
        if not (_is_num(hours) and hours >= 0):
            errors.append(f"{where}: step #{i}: after_hours must be a number >= 0")
        elif previous is not None and hours <= previous:
            errors.append(f"{where}: step #{i}: after_hours must be greater than the previous step's")
        if _is_num(hours):
            previous = hours
        if "incentive_pct" in st:
            pct = st["incentive_pct"]
            if not (_is_num(pct) and 0 < pct <= 50):
                errors.append(f"{where}: step #{i}: incentive_pct must be a number above 0 and at most 50")
            if transactional:
                errors.append(f"{where}: step #{i}: transactional scenarios cannot carry incentives")
        if "incentive_fallback" in st:
            if "incentive_pct" not in st:
                errors.append(f"{where}: step #{i}: incentive_fallback needs incentive_pct")
            if st["incentive_fallback"] not in FALLBACKS:
                errors.append(f"{where}: step #{i}: incentive_fallback must be one of {_names(FALLBACKS)}")


def _validate_scenario(index: int, sc: Any, seen: set[str], errors: list[str]) -> None:
    if not _is_map(sc):
        errors.append(f"scenario #{index}: must be a mapping")
        return
    sid = sc.get("id")
    if _is_str(sid) and _ID.match(sid):
        where = f"scenario '{sid}'"
        if sid in seen:
            errors.append(f"{where}: duplicate id")
        seen.add(sid)
    else:
        where = f"scenario #{index}"
        errors.append(f"{where}: id must be snake_case text (a-z, 0-9, _), 2 to 41 characters")
    allowed = SCENARIO_REQUIRED + SCENARIO_OPTIONAL
    for key in sc:
        if key not in allowed:
            errors.append(f"{where}: unknown key '{key}' (allowed: {_names(sorted(allowed))})")
    for key in SCENARIO_REQUIRED:
        if key not in sc:
            errors.append(f"{where}: missing '{key}'")
    if "description" in sc and not (_is_str(sc["description"]) and sc["description"].strip()):
        errors.append(f"{where}: description must be a non-empty text")
    if "level" in sc and not (_is_int(sc["level"]) and sc["level"] in (1, 2, 3)):
        errors.append(f"{where}: level must be 1, 2 or 3")
    if "trigger_kind" in sc and sc["trigger_kind"] not in TRIGGER_KINDS:
        errors.append(f"{where}: trigger_kind must be one of {_names(TRIGGER_KINDS)}")
    if "channels" in sc:
        ch = sc["channels"]
        if not (_is_list(ch) and ch and all(_is_str(c) for c in ch)):
            errors.append(f"{where}: channels must be a non-empty list of {_names(CHANNELS)}")
        else:
            for c in ch:
                if c not in CHANNELS:
                    errors.append(f"{where}: unknown channel '{c}' (allowed: {_names(CHANNELS)})")
            if len(set(ch)) != len(ch):
                errors.append(f"{where}: channels must not repeat")
    if "priority" in sc and not (_is_int(sc["priority"]) and 1 <= sc["priority"] <= 100):
        errors.append(f"{where}: priority must be an integer from 1 to 100")
    if "on_conflict" in sc and sc["on_conflict"] not in CONFLICT:
        errors.append(f"{where}: on_conflict must be one of {_names(CONFLICT)}")
    if "cool_down_hours" in sc and not (_is_int(sc["cool_down_hours"]) and sc["cool_down_hours"] >= 0):
        errors.append(f"{where}: cool_down_hours must be an integer >= 0")
    transactional = sc.get("transactional", False)
    if not isinstance(transactional, bool):
        errors.append(f"{where}: transactional must be true or false")
        transactional = False
    if "holdout_share" in sc:
        share = sc["holdout_share"]
        if not (_is_num(share) and 0 <= share < 1):
            errors.append(f"{where}: holdout_share must be a number from 0 to below 1")
        elif transactional and share != 0:
            errors.append(f"{where}: transactional scenarios have no holdout (holdout_share must be 0)")
    if "send_time" in sc and sc["send_time"] not in SEND_TIMES:
        errors.append(f"{where}: send_time must be one of {_names(SEND_TIMES)}")
    if "enabled" in sc and not isinstance(sc["enabled"], bool):
        errors.append(f"{where}: enabled must be true or false")
    if "steps" in sc:
        _validate_steps(where, sc["steps"], transactional, errors)
    if "payload" in sc:
        payload = sc["payload"]
        if not _is_map(payload):
            errors.append(f"{where}: payload must be a mapping of column: type")
        else:
            for name, kind in payload.items():
                if not (_is_str(name) and _FIELD.match(name)):
                    errors.append(f"{where}: payload field '{name}' must be a snake_case column name")
                if kind not in PAYLOAD_TYPES:
                    errors.append(f"{where}: payload field '{name}' must have a type among {_names(PAYLOAD_TYPES)}")
    if "params" in sc and not _is_map(sc["params"]):
        errors.append(f"{where}: params must be a mapping")
    if "history_campaigns" in sc:
        hc = sc["history_campaigns"]
        if not (_is_list(hc) and all(_is_str(x) and x.strip() for x in hc)):
            errors.append(f"{where}: history_campaigns must be a list of campaign id prefixes")


def validate(registry: Any) -> list[str]:
    """Every problem of a parsed registry, as messages (empty when valid)."""
    errors: list[str] = []
    if not _is_map(registry):
        return ["the registry must be a YAML mapping with guards and scenarios"]
    for key in registry:
        if key not in ("version", "guards", "scenarios"):
            errors.append(f"unknown top-level key '{key}' (allowed: version, guards, scenarios)")
    if registry.get("version") != 1:
        errors.append("version must be 1")
    if "guards" not in registry:
        errors.append("missing 'guards'")
    else:
        _validate_guards(registry["guards"], errors)
    scenarios = registry.get("scenarios")
    if not (_is_list(scenarios) and scenarios):
        errors.append("scenarios must be a non-empty list")
    else:
        seen: set[str] = set()
        for i, sc in enumerate(scenarios, start=1):
            _validate_scenario(i, sc, seen, errors)
    return errors


# --------------------------------------------------------------------------- reading


def registry_text(path: Path | None = None) -> str:
    """The YAML text of the registry (the body of its dbt macro)."""
    text = Path(path or REGISTRY_PATH).read_text(encoding="utf-8")
    start = _START.search(text)
    if not start:
        raise ScenarioRegistryError(["the registry file has no macro kairos_scenario_registry_yaml()"])
    end = _END.search(text, start.end())
    if not end:
        raise ScenarioRegistryError(["the registry macro has no {% endmacro %}"])
    body = text[start.end() : end.start()]
    if "{{" in body or "{%" in body or "{#" in body:
        raise ScenarioRegistryError(["the registry YAML must not contain Jinja ({{, {% or {#)"])
    return body


def parse(text: str) -> Any:
    """YAML text -> Python objects, with YAML syntax errors as registry errors."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioRegistryError([f"not valid YAML: {exc}"]) from exc


@dataclass(frozen=True)
class Step:
    step: int
    after_hours: float
    incentive_pct: float | None = None
    incentive_fallback: str = "send_without"


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    level: int
    trigger_kind: str
    channels: tuple[str, ...]
    priority: int
    on_conflict: str
    cool_down_hours: int
    holdout_share: float
    steps: tuple[Step, ...]
    payload: dict[str, str]
    transactional: bool = False
    send_time: str = "immediate"
    params: dict[str, Any] = field(default_factory=dict)
    history_campaigns: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def model(self) -> str:
        """The trigger model of the scenario."""
        return f"trg_{self.id}"


@dataclass(frozen=True)
class Registry:
    guards: dict[str, Any]
    scenarios: tuple[Scenario, ...]

    def scenario(self, scenario_id: str) -> Scenario:
        for sc in self.scenarios:
            if sc.id == scenario_id:
                return sc
        raise KeyError(scenario_id)


def build(raw: dict) -> Registry:
    """A validated registry object from parsed YAML (raises ScenarioRegistryError)."""
    errors = validate(raw)
    if errors:
        raise ScenarioRegistryError(errors)
    scenarios = []
    for sc in raw["scenarios"]:
        steps = tuple(
            Step(s["step"], s["after_hours"], s.get("incentive_pct"), s.get("incentive_fallback", "send_without"))
            for s in sc["steps"]
        )
        scenarios.append(
            Scenario(
                id=sc["id"], description=sc["description"].strip(), level=sc["level"],
                trigger_kind=sc["trigger_kind"], channels=tuple(sc["channels"]), priority=sc["priority"],
                on_conflict=sc["on_conflict"], cool_down_hours=sc["cool_down_hours"],
                holdout_share=float(sc["holdout_share"]), steps=steps, payload=dict(sc["payload"]),
                transactional=sc.get("transactional", False), send_time=sc.get("send_time", "immediate"),
                params=dict(sc.get("params") or {}), history_campaigns=tuple(sc.get("history_campaigns") or ()),
                enabled=sc.get("enabled", True),
            )
        )
    return Registry(guards=dict(raw["guards"]), scenarios=tuple(scenarios))


def load_registry(path: Path | None = None) -> Registry:
    """Read, parse and validate the registry file."""
    return build(parse(registry_text(path)))


# --------------------------------------------------------------------------- holdouts


def holdout_bucket(*parts: str) -> int:
    """The holdout bucket (0..9999) of a key, as the SQL macro kairos_hash_bucket computes it:
    the first 8 hex digits of md5('part1|part2|...') as an integer, modulo 10000."""
    text = "|".join(parts)
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:8], 16) % 10_000


def main(argv: list[str] | None = None) -> int:
    """``python -m kairos.scenarios [PATH]``: validate and list the scenarios."""
    args = sys.argv[1:] if argv is None else argv
    try:
        reg = load_registry(Path(args[0]) if args else None)
    except ScenarioRegistryError as exc:
        print("The scenario registry is invalid:", file=sys.stderr)
        for err in exc.errors:
            print(f"  - {err}", file=sys.stderr)
        return 1
    print(f"{len(reg.scenarios)} scenarios, registry valid")
    for sc in sorted(reg.scenarios, key=lambda s: (-s.priority, s.id)):
        flags = ("transactional " if sc.transactional else "") + ("" if sc.enabled else "disabled")
        print(f"  {sc.priority:>3}  {sc.id:<26} L{sc.level} {sc.trigger_kind:<16} {','.join(sc.channels):<20} "
              f"steps={len(sc.steps)} holdout={sc.holdout_share:.0%} {flags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
