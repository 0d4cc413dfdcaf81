"""``kairos why CUSTOMER [--scenario ID]``: why a customer did or did not get a message.

The decision layer writes one row per candidate (a trigger occurrence at its
current step) to ``decisions.decision_log``: the intent it became, or the
first rule that stopped it, with details. This module reads it (DuckDB or
PostgreSQL through :mod:`kairos.warehouse`) and prints each candidate of the
customer. The answer is one query::

    select scenario_id, step, trigger_ref, outcome, stopped_by, details
    from decisions.decision_log
    where customer_key = ? [and scenario_id = ?]

The customer may be given by customer_key, shop customer_id or email.

It also offers :func:`decision_summary` / :func:`print_decision_summary` for
the demo: intents per scenario and channel, and the top reasons candidates
were stopped.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from kairos.settings import Settings, load_settings
from kairos.warehouse import Warehouse, connect

LOG = "decisions.decision_log"
CONTEXT = "decisions.decision_customer_context"
SCENARIOS = "decisions.decision_scenarios"

WHY_SQL = f"""
select scenario_id, step, trigger_ref, channel, outcome, stopped_by, details, intent_id,
       priority, holdout_group, due_at, decided_at
from {LOG}
where customer_key = ?
{{scenario_filter}}
order by case when outcome = 'intent' then 0 else 1 end, priority desc, scenario_id, step, trigger_ref
"""


@dataclass(frozen=True)
class Customer:
    """The person a question is about."""

    customer_key: str
    customer_id: str | None = None
    email: str | None = None


class WhyError(LookupError):
    """The question cannot be answered (no decision log, unknown customer, ...)."""


def _open(settings: Settings | None) -> Warehouse:
    settings = settings or load_settings()
    return connect(settings, read_only=settings.target == "duckdb")


def resolve_customer(wh: Warehouse, value: str) -> Customer:
    """Find the customer by customer_key, else shop customer_id, else email (case-insensitive)."""
    value = value.strip()
    if not wh.table_exists("decisions", "decision_log"):
        raise WhyError("there is no decisions.decision_log yet: run the pipeline (dbt build) first")
    if wh.table_exists("decisions", "decision_customer_context"):
        rows = wh.fetchall(
            f"select customer_key, customer_id, email from {CONTEXT} "
            "where customer_key = ? or customer_id = ? or email = ? order by customer_key limit 2",
            [value, value, value.lower()],
        )
        if len(rows) == 1:
            return Customer(*rows[0])
        if len(rows) > 1:
            exact = [r for r in rows if r[0] == value]
            if exact:
                return Customer(*exact[0])
            raise WhyError(f"{value!r} matches several customers; give the customer_key")
    # not a profile (an anonymous visitor's key, for example): look in the log itself
    if wh.scalar(f"select count(*) from {LOG} where customer_key = ?", [value]):
        return Customer(value)
    raise WhyError(f"no customer {value!r} (tried customer_key, customer_id and email)")


def why(customer: str, scenario: str | None = None, settings: Settings | None = None) -> tuple[Customer, list[dict[str, Any]]]:
    """The customer and each of their candidates in the last decision run, intents first."""
    with _open(settings) as wh:
        person = resolve_customer(wh, customer)
        params: list[Any] = [person.customer_key]
        scenario_filter = ""
        if scenario:
            scenario_filter = "and scenario_id = ?"
            params.append(scenario)
        rows = wh.fetchall(WHY_SQL.format(scenario_filter=scenario_filter), params)
        columns = ["scenario_id", "step", "trigger_ref", "channel", "outcome", "stopped_by", "details",
                   "intent_id", "priority", "holdout_group", "due_at", "decided_at"]
        candidates = [dict(zip(columns, r)) for r in rows]
        if scenario and not candidates and wh.table_exists("decisions", "decision_scenarios"):
            known = wh.scalar(f"select count(*) from {SCENARIOS} where scenario_id = ?", [scenario])
            if not known:
                raise WhyError(f"no scenario {scenario!r} in the registry")
    return person, candidates


def format_why(person: Customer, candidates: list[dict[str, Any]], scenario: str | None = None) -> str:
    """Human-readable answer: one line per candidate with its outcome and the reason."""
    who = person.customer_key
    extra = ", ".join(x for x in (person.customer_id, person.email) if x)
    lines = [f"Customer {who}" + (f" ({extra})" if extra else "")]
    if not candidates:
        what = f"scenario {scenario}" if scenario else "any scenario"
        lines.append(f"  No candidate for {what} in the last decision run: no trigger fired for this customer.")
        return "\n".join(lines)
    lines[0] += f" - decided at {candidates[0]['decided_at']}"
    width = max(len(c["scenario_id"]) for c in candidates)
    for c in candidates:
        head = f"  {c['scenario_id']:<{width}}  step {c['step']}  {c['trigger_ref']}"
        if c["outcome"] == "intent":
            lines.append(f"{head}\n      -> INTENT {c['intent_id']}: {c['details']}")
        else:
            holdout = f" [holdout group: {c['holdout_group']}]" if c["holdout_group"] else ""
            lines.append(f"{head}\n      -> STOPPED by {c['stopped_by']}: {c['details']}{holdout}")
    return "\n".join(lines)


def _cmd_why(args: argparse.Namespace) -> int:
    try:
        person, candidates = why(args.customer, args.scenario)
    except WhyError as exc:
        print(f"kairos why: {exc}")
        return 1
    print(format_why(person, candidates, args.scenario))
    return 0


def add_why_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``kairos why CUSTOMER [--scenario ID]`` on the CLI's sub-parsers."""
    parser = subparsers.add_parser(
        "why",
        help="why a customer did or did not get a message (reads decisions.decision_log)",
        description="Print each candidate of the last decision run for a customer, with the rule "
        "that stopped it or the intent it became.",
    )
    parser.add_argument("customer", help="customer_key (or shop customer_id, or email)")
    parser.add_argument("--scenario", default=None, help="only this scenario (registry id)")
    parser.set_defaults(func=_cmd_why)
    return parser


# --------------------------------------------------------------------------- demo summary

SUMMARY_INTENTS_SQL = """
select scenario_id, channel, count(*) as intents
from decisions.message_intents
group by 1, 2
order by 1, 2
"""

SUMMARY_STOPS_SQL = """
select stopped_by, count(*) as candidates
from decisions.decision_log
where outcome = 'stopped'
group by 1
order by 2 desc, 1
"""


def decision_summary(wh: Warehouse, top: int = 10) -> dict[str, Any]:
    """Intents per scenario and channel, the top stop reasons and totals, from the last run."""
    intents = [(s, c, int(n)) for s, c, n in wh.fetchall(SUMMARY_INTENTS_SQL)]
    stops = [(r, int(n)) for r, n in wh.fetchall(SUMMARY_STOPS_SQL)]
    candidates = int(wh.scalar("select count(*) from decisions.decision_log") or 0)
    return {
        "candidates": candidates,
        "intents_total": sum(n for _, _, n in intents),
        "intents": intents,
        "stopped_total": sum(n for _, n in stops),
        "top_stop_reasons": stops[:top],
    }


def print_decision_summary(settings: Settings | None = None, top: int = 10) -> None:
    """Print the decision summary (for ``kairos demo``)."""
    with _open(settings) as wh:
        if not wh.table_exists("decisions", "decision_log"):
            print("\nDecisions: (no decision log)")
            return
        s = decision_summary(wh, top)
    print(f"\nDecisions: {s['candidates']:,} candidates -> {s['intents_total']:,} intents, {s['stopped_total']:,} stopped")
    print("  Intents per scenario and channel")
    for scenario, channel, n in s["intents"]:
        print(f"    {scenario:<28} {channel:<12} {n:>8,}")
    print("  Top reasons candidates were stopped")
    for reason, n in s["top_stop_reasons"]:
        print(f"    {reason:<28} {n:>8,}")
