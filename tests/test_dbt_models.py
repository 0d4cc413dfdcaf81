"""The dbt project end to end on a small generated shop, on DuckDB and PostgreSQL.

Each warehouse gets one generated shop and one ``dbt build`` (models, data
tests and unit tests) with ``kairos__now`` pinned to the generator's end; the
tests then compare what the models produced with outcomes computed here,
independently, from the raw tables (pandas over ``raw.*``, never the models'
SQL): the abandoned carts that should become email intents, the accounting
of raw rows, the quarantine reasons, normalised contact points and stable
intent ids.
"""

from __future__ import annotations

import csv
import os
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from kairos.dbt import run_dbt
from kairos.settings import PROJECT_ROOT, Settings, load_settings
from kairos.warehouse import connect

pytestmark = pytest.mark.slow

CUSTOMERS = 300
DAYS = 30
SEED = 11
END = datetime(2026, 11, 20, 12, 0, 0)
VARS = {"kairos__now": END.strftime("%Y-%m-%d %H:%M:%S")}

# the project's defaults (dbt_project.yml), restated: the oracle must not read the models
IDLE = timedelta(minutes=60)
MAX_AGE = timedelta(hours=72)
CAP_WINDOW = timedelta(hours=24)
# identity: an identifier of the outer type linked to more distinct identifiers of the
# inner type than this is shared (var kairos__identity_max_links)
MAX_LINKS = {
    "anonymous_id": {"customer_id": 1, "email": 2},
    "push_token": {"customer_id": 1, "email": 2},
    "email": {"customer_id": 2},
    "phone": {"customer_id": 2, "email": 3},
}
PHONE_DEFAULT_COUNTRY = "DE"
TRANSACTIONAL_PREFIX = "txn_"
CALLING_CODES = {"DE": "49", "FR": "33", "NL": "31", "AT": "43", "GB": "44", "US": "1"}

RAW_TABLES = {
    # model suffix: raw table
    "shop__events": "events",
    "shop__orders": "orders",
    "shop__order_lines": "order_lines",
    "shop__products": "products",
    "shop__inventory_levels": "inventory_levels",
    "shop__price_history": "price_history",
    "crm__customers": "crm_customers",
    "crm__consents": "consents",
    "messaging__contact_history": "contact_history",
}
VERSIONED = {"shop__orders": "order_id", "shop__products": "product_id", "crm__customers": "customer_id"}


# --------------------------------------------------------------------------- builds


@dataclass
class Build:
    """One warehouse with the generated shop and the dbt build done on it."""

    settings: Settings
    build_seconds: float
    intent_ids_first_build: set[str]
    intent_ids_second_build: set[str] = field(default_factory=set)
    # message_intents as the build decided it (before the ledger experiment below)
    intents: pd.DataFrame | None = None
    # role -> customer_key of the people given a ledger row, and the intents decided after it
    ledger_people: dict[str, str] = field(default_factory=dict)
    intents_after_ledger: pd.DataFrame | None = None
    log_after_ledger: pd.DataFrame | None = None

    def frame(self, sql: str) -> pd.DataFrame:
        with connect(self.settings, read_only=self.settings.target == "duckdb") as wh:
            return wh.fetch_arrow(sql).to_pandas()

    def scalar(self, sql: str):
        with connect(self.settings, read_only=self.settings.target == "duckdb") as wh:
            return wh.scalar(sql)


def _generate(settings: Settings) -> None:
    from kairos.generator import generate_and_load

    generate_and_load(customers=CUSTOMERS, days=DAYS, seed=SEED, end=END.isoformat(), settings=settings)


def _build(settings: Settings, target_path: Path, rerun: bool) -> Build:
    _generate(settings)
    started = time.perf_counter()
    run_dbt(["build"], settings, vars=VARS, target_path=target_path)
    build = Build(settings, time.perf_counter() - started, set())
    build.intents = build.frame(
        "select intent_id, customer_key, scenario_id, channel, is_transactional, cart_id, email, payload "
        "from decisions.message_intents"
    )
    build.intent_ids_first_build = set(build.intents["intent_id"])
    if rerun:
        # a second run over the same raw data must decide the same intents with the same ids
        run_dbt(["run", "--select", "+message_intents+"], settings, vars=VARS, target_path=target_path)
        build.intent_ids_second_build = set(build.frame("select intent_id from decisions.message_intents")["intent_id"])
    else:
        # the real-time path's SQL on this warehouse: the incremental event chain
        # and the customer-scoped triggers and decisions (nothing new: the scope
        # is empty and nothing may change)
        run_dbt(["run", "--selector", "realtime"], settings, vars=VARS, target_path=target_path)
    _decide_again_with_a_ledger(build, target_path)
    print(f"\ndbt build on {settings.target}: {build.build_seconds:.1f} s")
    return build


def _marketing_messages(intents: pd.DataFrame) -> pd.DataFrame:
    """Intents that caps and cool-downs apply to: marketing email, SMS and push."""
    is_message = intents["channel"].isin(["email", "sms", "push"])
    return intents[is_message & ~intents["is_transactional"].astype(bool)]


def _decide_again_with_a_ledger(build: Build, target_path: Path) -> None:
    """Record deliveries in ops.sync_records as the sync engine would, then decide again.

    Three people with intents: one got an email 1 h ago (capped), one 25 h ago
    (outside the window), one got an audience upsert 1 h ago (not a message).
    """
    keys = sorted(set(_marketing_messages(build.intents)["customer_key"]))
    assert len(keys) >= 3, "the sample shop should give at least three people a marketing message"
    build.ledger_people = {"capped": keys[0], "outside_window": keys[1], "not_a_message": keys[2]}
    rows = [
        (keys[0], "insert", END - timedelta(hours=1)),
        (keys[1], "insert", END - CAP_WINDOW - timedelta(hours=1)),
        (keys[2], "upsert", END - timedelta(hours=1)),
    ]
    with connect(build.settings) as wh:
        wh.ensure_schema("ops")
        wh.execute(
            "create table ops.sync_records (sync_name varchar(100), record_key varchar(100), status varchar(20), "
            "operation varchar(20), customer_key varchar(100), channel varchar(20), scenario_id varchar(100), "
            "updated_at timestamp)"
        )
        wh.executemany(
            "insert into ops.sync_records values ('some_email_sync', ?, 'sent', ?, ?, 'email', 'newsletter', ?)",
            [(f"r{i}", op, key, at) for i, (key, op, at) in enumerate(rows)],
        )
    # the decision layer from the contact history on (it reads the ledger there)
    run_dbt(["run", "--select", "decision_contact_history+"], build.settings, vars=VARS, target_path=target_path)
    build.intents_after_ledger = build.frame(
        "select intent_id, customer_key, scenario_id, channel, is_transactional from decisions.message_intents"
    )
    build.log_after_ledger = build.frame("select customer_key, channel, stopped_by from decisions.decision_log")
    with connect(build.settings) as wh:
        wh.execute("drop table ops.sync_records")


# One generated shop and one dbt build per warehouse for the whole session:
# test_identity.py, test_profiles.py and test_segments.py read the same build
# through shared_build() (a module-level cache; fixtures in a conftest would
# do the same, this keeps the build next to the oracle that checks it).
_BUILDS: dict[str, Build | BaseException] = {}


def _duck_settings(tmp: Path) -> Settings:
    return replace(
        load_settings(),
        target="duckdb",
        duckdb_path=tmp / "kairos.duckdb",
        output_dir=tmp / "output",
        landing_dir=tmp / "landing",
    )


def shared_build(target: str, tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Build:
    """The session's build on ``target`` ('duckdb' or 'postgres'), made on first use."""
    cached = _BUILDS.get(target)
    if isinstance(cached, BaseException):
        pytest.fail(f"the {target} build failed earlier in this session: {cached}")
    if cached is not None:
        return cached
    try:
        if target == "duckdb":
            tmp = tmp_path_factory.mktemp("duck_models")
            _BUILDS[target] = _build(_duck_settings(tmp), tmp / "target", rerun=True)
        else:
            _BUILDS[target] = _pg_build(tmp_path_factory, config)
    except BaseException as exc:  # noqa: BLE001 - remembered so other modules do not rebuild
        _BUILDS[target] = exc
        raise
    return _BUILDS[target]  # type: ignore[return-value]


def _pg_build(tmp_path_factory: pytest.TempPathFactory, config: pytest.Config) -> Build:
    import psycopg2

    admin = replace(load_settings(), target="postgres", pg_database=os.environ.get("KAIROS_PG_ADMIN_DB", "postgres"))
    try:
        conn = psycopg2.connect(admin.pg_dsn, connect_timeout=3)
    except psycopg2.OperationalError:
        pytest.fail("PostgreSQL is not reachable at KAIROS_PG_HOST:KAIROS_PG_PORT (start it: see .ci/run)")
    conn.autocommit = True
    name = f"kairos_test_models_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')

    def drop() -> None:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        conn.close()

    config.add_cleanup(drop)
    tmp = tmp_path_factory.mktemp("pg_models")
    settings = replace(admin, pg_database=name, output_dir=tmp / "output", landing_dir=tmp / "landing")
    return _build(settings, tmp / "target", rerun=False)


@pytest.fixture(scope="module")
def duck_build(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Build:
    return shared_build("duckdb", tmp_path_factory, pytestconfig)


@pytest.fixture(scope="module")
def pg_build(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Build:
    return shared_build("postgres", tmp_path_factory, pytestconfig)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest) -> Build:
    return request.getfixturevalue("duck_build" if request.param == "duckdb" else "pg_build")


@pytest.fixture(scope="module")
def oracle(built: Build) -> "Oracle":
    return Oracle.from_raw(built)


# --------------------------------------------------------------------------- the oracle
# An independent reading of the raw tables, written from the raw contract and
# the rules in the brief (not from the models' SQL).

ISO_TS = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?"
    r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$"
)
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
EMAIL = re.compile(
    r"^[a-z0-9_%+-]+([.][a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)*[.][a-z]{2,}$"
)
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def clean(value) -> str | None:
    """Text with padding removed; empty and missing become None."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def missing(value) -> bool:
    return value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and pd.isna(value))


def parse_ts(text) -> datetime | None:
    text = clean(text)
    if text is None or not ISO_TS.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def ts(value) -> datetime | None:
    if missing(value):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)


def norm_email(value) -> str | None:
    text = clean(value)
    if text is None:
        return None
    text = text.lower()
    return text if EMAIL.match(text) else None


def norm_phone(value, country_code) -> str | None:
    text = clean(value)
    if text is None:
        return None
    text = text.replace("(0)", "0")
    if not re.fullmatch(r"\+?[0-9 ()./-]+", text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    code = CALLING_CODES.get((clean(country_code) or "").upper())
    if text.startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif code == "1":
        if len(digits) == 10 and digits[0] not in "01":
            candidate = "+1" + digits
        elif len(digits) == 11 and digits[0] == "1":
            candidate = "+" + digits
        else:
            candidate = None
    elif digits.startswith("0") and code:
        candidate = "+" + code + digits[1:]
    else:
        candidate = None
    if candidate is None:
        return None
    candidate = re.sub(r"^\+(49|33|31|43|44)0", r"+\1", candidate)
    return candidate if E164.match(candidate) else None


def country_from_email(email: str | None) -> str | None:
    """ISO country of an email's country-code TLD ('.co.uk' -> GB), for the countries we read phones of."""
    if not email:
        return None
    tld = email.rsplit(".", 1)[-1].lower()
    if tld == "uk":
        return "GB"
    return tld.upper() if tld.upper() in CALLING_CODES and tld.upper() != "GB" else None


def norm_order_phone(value, crm_country, email) -> str | None:
    """A checkout phone: read with the CRM customer's country, else the email's TLD country,
    else (bare national "(0)..." style only) the default country."""
    country = clean(crm_country) or country_from_email(email)
    text = clean(value)
    if not (clean(country) or "").strip() and text is not None and text.startswith("(0)"):
        country = PHONE_DEFAULT_COUNTRY
    return norm_phone(value, country)


def load_blocklist() -> list[tuple[str, str, str]]:
    """(identifier_type or '*', 'exact'|'like', lower-case value) from the identity_blocklist seed."""
    with open(PROJECT_ROOT / "dbt_project" / "seeds" / "identity_blocklist.csv", newline="") as fh:
        return [
            (r["identifier_type"].strip().lower(), r["match_type"].strip().lower(), r["blocked_value"].strip().lower())
            for r in csv.DictReader(fh)
        ]


def is_blocked(identifier: tuple[str, str], blocklist: list[tuple[str, str, str]]) -> bool:
    kind, value = identifier[0], identifier[1].lower()
    for blocked_type, match, blocked in blocklist:
        if blocked_type not in ("*", kind):
            continue
        if match == "exact" and value == blocked:
            return True
        if match == "like" and re.fullmatch(
            "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in blocked), value, re.S
        ):
            return True
    return False


def event_name_key(name) -> str:
    return re.sub(r"[^a-z0-9]", "", (clean(name) or "").lower())


def load_event_name_map() -> dict[str, str]:
    with open(PROJECT_ROOT / "dbt_project" / "seeds" / "event_name_map.csv", newline="") as fh:
        return {event_name_key(r["raw_event_name"]): r["canonical_event_name"] for r in csv.DictReader(fh)}


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class Oracle:
    """Expected outcomes computed in Python from the raw tables."""

    raw_counts: dict[str, int]
    reasons: dict[str, Counter]  # model suffix -> Counter of expected reject reasons
    superseded: dict[str, int]
    crm_contacts: dict[str, tuple[str | None, str | None]]  # customer_id -> (email, phone) of the staged row
    email_eligible_carts: set[str]  # abandoned carts whose owner may get a marketing email
    abandoned_carts: set[str]

    @classmethod
    def from_raw(cls, build: Build) -> "Oracle":
        raw = {name: records(build.frame(f"select * from raw.{table}")) for name, table in RAW_TABLES.items()}
        raw_counts = {name: len(rows) for name, rows in raw.items()}
        reasons: dict[str, Counter] = {}
        superseded: dict[str, int] = {}

        # ---- events
        names = load_event_name_map()
        events, first_copy, reasons["shop__events"] = [], {}, Counter()
        for row in raw["shop__events"]:
            event_at = parse_ts(row["event_ts"])
            name = names.get(event_name_key(row["event_name"]))
            if clean(row["event_id"]) is None:
                reasons["shop__events"]["missing_event_id"] += 1
            elif event_at is None:
                reasons["shop__events"]["unparseable_timestamp"] += 1
            elif name is None:
                reasons["shop__events"]["unknown_event_name"] += 1
            elif clean(row["anonymous_id"]) is None and clean(row["customer_id"]) is None:
                reasons["shop__events"]["missing_identity"] += 1
            else:
                event = {
                    "event_id": clean(row["event_id"]),
                    "event_name": name,
                    "anonymous_id": clean(row["anonymous_id"]),
                    "customer_id": clean(row["customer_id"]),
                    "email": norm_email(row["email"]),
                    "push_token": clean(row["push_token"]),
                    "cart_id": clean(row["cart_id"]),
                    "product_id": clean(row["product_id"]),
                    "quantity": None if missing(row["quantity"]) else int(row["quantity"]),
                    "price": None if missing(row["price"]) else float(row["price"]),
                    "event_at": event_at,
                    "received_at": ts(row["received_at"]),
                }
                previous = first_copy.get(event["event_id"])
                if previous is None or event["received_at"] < previous["received_at"]:
                    first_copy[event["event_id"]] = event
                events.append(event)
        reasons["shop__events"]["duplicate"] += len(events) - len(first_copy)
        events = list(first_copy.values())

        # ---- CRM customers (latest valid row per customer wins)
        reasons["crm__customers"] = Counter()
        crm_valid: dict[str, list[dict]] = defaultdict(list)
        for row in raw["crm__customers"]:
            customer_id = clean(row["customer_id"])
            birthday = clean(row["birthday"])
            birthday_ok = True
            if birthday is not None:
                try:
                    born = datetime.strptime(birthday, "%Y-%m-%d") if ISO_DATE.match(birthday) else None
                except ValueError:
                    born = None
                updated = ts(row["updated_at"])
                birthday_ok = born is not None and born.year >= 1900 and (updated is None or born.date() <= updated.date())
            if customer_id is None:
                reasons["crm__customers"]["missing_customer_id"] += 1
            else:
                # an unreadable birthday no longer rejects the row: birthday null, flagged
                row = dict(row, birthday_ok=birthday_ok)
                crm_valid[customer_id].append(row)
        crm: dict[str, dict] = {}
        for customer_id, rows in crm_valid.items():
            latest = max(rows, key=lambda r: ts(r["updated_at"]) or datetime.min)
            crm[customer_id] = {
                "customer_id": customer_id,
                "email": norm_email(latest["email"]),
                "phone": norm_phone(latest["phone"], latest["country_code"]),
                "has_invalid_birthday": not latest["birthday_ok"],
            }
        superseded["crm__customers"] = sum(len(rows) - 1 for rows in crm_valid.values())
        # checkout phones are read with the country of the CRM customer (any raw row)
        crm_country: dict[str, str] = {}
        for row in raw["crm__customers"]:
            customer_id, country = clean(row["customer_id"]), clean(row["country_code"])
            if customer_id is not None and country is not None:
                crm_country[customer_id] = max(crm_country.get(customer_id, country), country)

        # ---- orders (latest valid status row per order wins)
        reasons["shop__orders"] = Counter()
        order_valid: dict[str, list[dict]] = defaultdict(list)
        for row in raw["shop__orders"]:
            total = None if missing(row["order_total"]) else float(row["order_total"])
            status = (clean(row["status"]) or "").lower()
            if clean(row["order_id"]) is None:
                reasons["shop__orders"]["missing_order_id"] += 1
            elif total is None:
                reasons["shop__orders"]["missing_amount"] += 1
            elif total < 0:
                reasons["shop__orders"]["negative_amount"] += 1
            elif status not in ("placed", "shipped", "delivered", "cancelled", "returned"):
                reasons["shop__orders"]["unknown_status"] += 1
            elif missing(row["ordered_at"]):
                reasons["shop__orders"]["missing_ordered_at"] += 1
            else:
                order_valid[clean(row["order_id"])].append(row)
        orders = []
        for order_id, rows in order_valid.items():
            latest = max(rows, key=lambda r: ts(r["updated_at"]) or datetime.min)
            orders.append(
                {
                    "order_id": order_id,
                    "customer_id": clean(latest["customer_id"]),
                    "email": norm_email(latest["email"]),
                    "phone": norm_order_phone(
                        latest["phone"], crm_country.get(clean(latest["customer_id"]) or ""), norm_email(latest["email"])
                    ),
                    "ordered_at": ts(latest["ordered_at"]),
                }
            )
        superseded["shop__orders"] = sum(len(rows) - 1 for rows in order_valid.values())

        # ---- the other tables: reasons only
        reasons["shop__order_lines"] = Counter()
        seen_lines: set = set()
        for row in raw["shop__order_lines"]:
            quantity = None if missing(row["quantity"]) else int(row["quantity"])
            price = None if missing(row["unit_price"]) else float(row["unit_price"])
            if clean(row["order_id"]) is None:
                reasons["shop__order_lines"]["missing_order_id"] += 1
            elif missing(row["line_number"]):
                reasons["shop__order_lines"]["missing_line_number"] += 1
            elif clean(row["product_id"]) is None:
                reasons["shop__order_lines"]["missing_product_id"] += 1
            elif quantity is None or quantity <= 0:
                reasons["shop__order_lines"]["non_positive_quantity"] += 1
            elif price is None or price < 0:
                reasons["shop__order_lines"]["negative_amount"] += 1
            elif (key := (clean(row["order_id"]), int(row["line_number"]))) in seen_lines:
                reasons["shop__order_lines"]["duplicate"] += 1
            else:
                seen_lines.add(key)

        reasons["shop__products"] = Counter()
        product_valid: Counter = Counter()
        for row in raw["shop__products"]:
            price = None if missing(row["list_price"]) else float(row["list_price"])
            cost = None if missing(row["unit_cost"]) else float(row["unit_cost"])
            if clean(row["product_id"]) is None:
                reasons["shop__products"]["missing_product_id"] += 1
            elif price is None:
                reasons["shop__products"]["missing_amount"] += 1
            elif price < 0 or (cost is not None and cost < 0):
                reasons["shop__products"]["negative_amount"] += 1
            else:
                product_valid[clean(row["product_id"])] += 1
        superseded["shop__products"] = sum(n - 1 for n in product_valid.values())

        for name, value_col, time_col, negative_reason in (
            ("shop__inventory_levels", "quantity_on_hand", "recorded_at", "negative_quantity"),
            ("shop__price_history", "price", "effective_at", "negative_amount"),
        ):
            reasons[name] = Counter()
            seen: set = set()
            for row in raw[name]:
                value = None if missing(row[value_col]) else float(row[value_col])
                if clean(row["product_id"]) is None:
                    reasons[name]["missing_product_id"] += 1
                elif missing(row[time_col]):
                    reasons[name]["missing_timestamp"] += 1
                elif value is None:
                    reasons[name]["missing_quantity" if value_col == "quantity_on_hand" else "missing_amount"] += 1
                elif value < 0:
                    reasons[name][negative_reason] += 1
                elif (key := (clean(row["product_id"]), ts(row[time_col]))) in seen:
                    reasons[name]["duplicate"] += 1
                else:
                    seen.add(key)

        reasons["crm__consents"] = Counter()
        consents, seen_consents = [], set()
        for row in raw["crm__consents"]:
            channel, status = (clean(row["channel"]) or "").lower(), (clean(row["status"]) or "").lower()
            if clean(row["consent_id"]) is None:
                reasons["crm__consents"]["missing_consent_id"] += 1
            elif clean(row["customer_id"]) is None:
                reasons["crm__consents"]["missing_customer_id"] += 1
            elif channel not in ("email", "sms", "push", "ads"):
                reasons["crm__consents"]["unknown_channel"] += 1
            elif status not in ("granted", "withdrawn"):
                reasons["crm__consents"]["unknown_status"] += 1
            elif missing(row["recorded_at"]):
                reasons["crm__consents"]["missing_timestamp"] += 1
            elif clean(row["consent_id"]) in seen_consents:
                reasons["crm__consents"]["duplicate"] += 1
            else:
                seen_consents.add(clean(row["consent_id"]))
                consents.append((clean(row["customer_id"]), channel, status, ts(row["recorded_at"])))

        reasons["messaging__contact_history"] = Counter()
        contacts, seen_contacts = [], set()
        for row in raw["messaging__contact_history"]:
            channel, kind = (clean(row["channel"]) or "").lower(), (clean(row["event_type"]) or "").lower()
            if clean(row["message_id"]) is None:
                reasons["messaging__contact_history"]["missing_message_id"] += 1
            elif clean(row["customer_id"]) is None:
                reasons["messaging__contact_history"]["missing_customer_id"] += 1
            elif channel not in ("email", "sms", "push"):
                reasons["messaging__contact_history"]["unknown_channel"] += 1
            elif kind not in ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained"):
                reasons["messaging__contact_history"]["unknown_event_type"] += 1
            elif missing(row["occurred_at"]):
                reasons["messaging__contact_history"]["missing_timestamp"] += 1
            elif (key := (clean(row["message_id"]), kind, ts(row["occurred_at"]))) in seen_contacts:
                reasons["messaging__contact_history"]["duplicate"] += 1
            else:
                seen_contacts.add(key)
                contacts.append(
                    {
                        "customer_id": clean(row["customer_id"]),
                        "channel": channel,
                        "event_type": kind,
                        "bounce_type": (clean(row["bounce_type"]) or "").lower(),
                        "transactional": (clean(row["campaign_id"]) or "").startswith(TRANSACTIONAL_PREFIX),
                        "occurred_at": ts(row["occurred_at"]),
                    }
                )

        # ---- identity: connected components; blocked values link nobody, shared identifiers merge nobody
        blocklist = load_blocklist()
        links = []
        for customer in crm.values():
            if customer["email"]:
                links.append((("customer_id", customer["customer_id"]), ("email", customer["email"])))
            if customer["phone"]:
                links.append((("customer_id", customer["customer_id"]), ("phone", customer["phone"])))
        for e in events:
            present = [(k, e[k]) for k in ("anonymous_id", "customer_id", "email", "push_token") if e[k] is not None]
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    links.append((a, b))
        for o in orders:
            present = [(k, o[k]) for k in ("customer_id", "email", "phone") if o[k] is not None]
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    links.append((a, b))
        nodes = {x for link in links for x in link}
        nodes |= {("customer_id", c) for c in crm}
        for e in events:
            nodes |= {(k, e[k]) for k in ("anonymous_id", "customer_id", "email", "push_token") if e[k] is not None}
        for o in orders:
            nodes |= {(k, o[k]) for k in ("customer_id", "email", "phone") if o[k] is not None}
        blocked = {x for x in nodes if is_blocked(x, blocklist)}
        links = {link for link in set(links) if link[0] not in blocked and link[1] not in blocked}
        linked: dict = defaultdict(lambda: defaultdict(set))
        for a, b in links:
            linked[a][b[0]].add(b[1])
            linked[b][a[0]].add(a[1])
        shared = {
            x
            for x, by_type in linked.items()
            if x[0] != "customer_id"
            and any(len(by_type[t]) > limit for t, limit in MAX_LINKS.get(x[0], {}).items())
        }
        people = UnionFind()
        # every identifier staging knows is a node, linked or not
        for identifier in nodes:
            people.find(identifier)
        for a, b in links:
            if a not in shared and b not in shared:
                people.union(a, b)

        def person(*identifiers):
            for identifier in identifiers:
                if identifier[1] is not None and identifier not in shared and identifier not in blocked:
                    return people.find(identifier)
            return None

        # ---- consent and reachability per person, as of END
        timeline = defaultdict(list)
        for customer_id, channel, status, recorded_at in consents:
            if recorded_at <= END:
                timeline[(person(("customer_id", customer_id)), channel)].append((recorded_at, status))
        for c in contacts:
            if c["event_type"] in ("unsubscribed", "complained") and c["occurred_at"] <= END:
                timeline[(person(("customer_id", c["customer_id"])), c["channel"])].append((c["occurred_at"], "withdrawn"))

        def email_consent(who) -> bool:
            entries = timeline.get((who, "email"))
            if not entries:
                return False
            latest = max(at for at, _ in entries)
            return all(status == "granted" for at, status in entries if at == latest)

        members = defaultdict(set)
        for identifier in list(people.parent):
            if identifier not in shared and identifier not in blocked:
                members[people.find(identifier)].add(identifier)

        def person_email(who) -> str | None:
            customer_ids = sorted(v for t, v in members[who] if t == "customer_id")
            in_crm = [c for c in customer_ids if c in crm]
            if in_crm:
                profile = crm[customer_ids[0]] if customer_ids[0] in crm else crm[in_crm[0]]
                if profile["email"]:
                    return profile["email"]
            seen = [(o["ordered_at"], o["email"]) for o in orders if o["email"] and order_owner(o) == who]
            seen += [(e["event_at"], e["email"]) for e in events if e["email"] and event_owner(e) == who]
            return max(seen)[1] if seen else None

        def event_owner(e):
            return person(("customer_id", e["customer_id"]), ("anonymous_id", e["anonymous_id"]), ("email", e["email"]))

        def order_owner(o):
            return person(("customer_id", o["customer_id"]), ("email", o["email"]), ("phone", o["phone"]))

        hard_bounced = {
            person(("customer_id", c["customer_id"]))
            for c in contacts
            if c["channel"] == "email" and c["event_type"] == "bounced" and c["bounce_type"] == "hard" and c["occurred_at"] <= END
        }
        # ---- abandoned carts as of END
        past = [e for e in events if e["event_at"] <= END]
        cart_events = defaultdict(list)
        for e in past:
            if e["cart_id"] and e["event_name"] in ("add_to_cart", "remove_from_cart", "checkout_started"):
                cart_events[e["cart_id"]].append(e)
        completed = {e["cart_id"] for e in past if e["event_name"] == "order_completed" and e["cart_id"]}
        purchases = defaultdict(list)
        for o in orders:
            if o["ordered_at"] <= END and order_owner(o) is not None:
                purchases[order_owner(o)].append(o["ordered_at"])
        for e in past:
            if e["event_name"] == "order_completed" and event_owner(e) is not None:
                purchases[event_owner(e)].append(e["event_at"])

        abandoned = {}  # cart_id -> (owner, last_activity_at)
        for cart_id, cart in cart_events.items():
            if not any(e["event_name"] == "add_to_cart" for e in cart) or cart_id in completed:
                continue
            last = max(e["event_at"] for e in cart)
            if not (END - MAX_AGE < last <= END - IDLE):
                continue
            owned = sorted((e for e in cart if event_owner(e) is not None), key=lambda e: (-e["event_at"].timestamp(), e["event_id"]))
            if not owned:
                continue
            owner = event_owner(owned[0])
            net = Counter()
            for e in cart:
                if e["product_id"] and e["event_name"] in ("add_to_cart", "remove_from_cart"):
                    quantity = e["quantity"] if e["quantity"] is not None else 1
                    net[e["product_id"]] += quantity if e["event_name"] == "add_to_cart" else -quantity
            if sum(q for q in net.values() if q > 0) <= 0:
                continue
            if any(at >= last for at in purchases[owner]):
                continue
            abandoned[cart_id] = (owner, last)

        # ---- carts whose owner consented to email, has an address and no hard bounce
        eligible = {
            cart_id
            for cart_id, (owner, _) in abandoned.items()
            if email_consent(owner) and owner not in hard_bounced and person_email(owner)
        }

        return cls(
            raw_counts=raw_counts,
            reasons=reasons,
            superseded=superseded,
            crm_contacts={cid: (c["email"], c["phone"]) for cid, c in crm.items()},
            email_eligible_carts=eligible,
            abandoned_carts=set(abandoned),
        )


# --------------------------------------------------------------------------- tests


def test_raw_rows_are_staged_quarantined_or_superseded(built: Build, oracle: Oracle) -> None:
    for name in RAW_TABLES:
        staged = built.scalar(f"select count(*) from staging.stg_{name}")
        quarantined = built.scalar(f"select count(*) from quarantine.qrn_{name}")
        expected_superseded = oracle.superseded.get(name, 0)
        assert staged + quarantined + expected_superseded == oracle.raw_counts[name], name
        if name not in VERSIONED:
            assert expected_superseded == 0


def test_each_kind_of_bad_row_is_quarantined_with_its_reason(built: Build, oracle: Oracle) -> None:
    for name in RAW_TABLES:
        got = built.frame(f"select reject_reason, count(*) as n from quarantine.qrn_{name} group by 1")
        actual = Counter({r: int(n) for r, n in zip(got["reject_reason"], got["n"])})
        assert actual == +oracle.reasons[name], name
    # the sample shop is meant to exercise the quarantine: some bad rows must exist
    assert sum(sum(c.values()) for c in oracle.reasons.values()) > 0


def test_versioned_entities_keep_one_current_row(built: Build) -> None:
    for name, key in VERSIONED.items():
        rows, keys = built.frame(f"select count(*) as n, count(distinct {key}) as k from staging.stg_{name}").iloc[0]
        assert rows == keys, name


def test_contact_points_are_normalised(built: Build, oracle: Oracle) -> None:
    staged = built.frame("select customer_id, email, phone from staging.stg_crm__customers")
    assert len(staged) == len(oracle.crm_contacts)
    for row in records(staged):
        assert (row["email"], row["phone"]) == oracle.crm_contacts[row["customer_id"]], row["customer_id"]
        assert row["email"] is None or (row["email"] == row["email"].strip().lower() and EMAIL.match(row["email"]))
        assert row["phone"] is None or E164.match(row["phone"])
    assert staged["email"].notna().mean() > 0.5 and staged["phone"].notna().mean() > 0.5
    for table in ("stg_shop__events", "stg_shop__orders"):
        emails = built.frame(f"select distinct email from staging.{table} where email is not null")["email"]
        assert all(EMAIL.match(e) for e in emails), table


def test_abandoned_cart_intents_match_the_raw_data(built: Build, oracle: Oracle) -> None:
    triggered = set(built.frame("select cart_id from triggers.trg_abandoned_cart")["cart_id"])
    assert triggered == oracle.abandoned_carts
    intents = built.intents
    carts = intents[intents["scenario_id"] == "abandoned_cart"]
    assert len(carts) > 0, "the sample shop should leave some carts to remind"
    assert set(carts["cart_id"]) <= triggered
    # an email reminder only where the owner consented, has an address and did not hard-bounce
    emailed = carts[carts["channel"] == "email"]
    assert len(emailed) > 0
    assert set(emailed["cart_id"]) <= oracle.email_eligible_carts
    assert emailed["email"].notna().all()
    assert all(p.startswith('{"cart_id":') and p.endswith("]}") for p in carts["payload"])
    # every triggered cart is accounted for: an intent, or the rule that stopped it
    logged = set(built.frame(
        "select trigger_ref from decisions.decision_log where scenario_id = 'abandoned_cart'"
    )["trigger_ref"])
    assert triggered <= logged
    synced = built.frame("select intent_id from syncs.sync_file__abandoned_cart_intents")
    assert sorted(synced["intent_id"]) == sorted(emailed["intent_id"])


def test_triggered_carts_are_truly_abandoned(built: Build) -> None:
    # the generator's ground truth (tests may read it, models may not): no false reminders
    carts = built.frame(
        "select g.cart_id, t.abandoned from triggers.trg_abandoned_cart as g "
        "left join truth.carts as t on g.cart_id = t.cart_id"
    )
    assert len(carts) > 0
    assert carts["abandoned"].fillna(False).astype(bool).all(), carts[~carts["abandoned"].fillna(False).astype(bool)]


def test_every_profile_has_one_key_and_segment(built: Build) -> None:
    customers = built.scalar("select count(*) from marts.dim_customers")
    segmented = built.frame("select lifecycle_stage, count(*) as n from segments.seg_lifecycle_stage group by 1")
    assert customers > 0 and int(segmented["n"].sum()) == customers
    assert set(segmented["lifecycle_stage"]) <= {"new", "active", "dormant", "lost", "prospect"}
    # every CRM customer ends up in exactly one profile
    crm_ids = built.scalar("select count(*) from staging.stg_crm__customers")
    keyed = built.scalar(
        "select count(distinct identifier_value) from intermediate.int_identities_stitched "
        "where identifier_type = 'customer_id' and customer_key is not null "
        "and identifier_value in (select customer_id from staging.stg_crm__customers)"
    )
    assert keyed == crm_ids


def test_sync_engine_deliveries_count_against_the_cap(built: Build) -> None:
    before = built.intents
    after = built.intents_after_ledger
    people = built.ledger_people
    # an email delivered 1 h ago: no further marketing message now, and the log says why
    assert people["capped"] not in set(_marketing_messages(after)["customer_key"])
    log = built.log_after_ledger
    stops = set(log.loc[log["customer_key"] == people["capped"], "stopped_by"].dropna())
    assert stops & {"cool_down_global", "frequency_cap_channel", "frequency_cap_all_channels"}, stops
    # a delivery outside every window and an audience upsert change nothing for their person
    for who in ("outside_window", "not_a_message"):
        key = people[who]
        assert set(after.loc[after["customer_key"] == key, "intent_id"]) == set(
            before.loc[before["customer_key"] == key, "intent_id"]
        ), who
    # nobody else is affected
    marked = list(people.values())
    assert set(after.loc[~after["customer_key"].isin(marked), "intent_id"]) == set(
        before.loc[~before["customer_key"].isin(marked), "intent_id"]
    )


def test_intent_ids_are_stable_across_runs(duck_build: Build) -> None:
    assert duck_build.intent_ids_first_build
    assert duck_build.intent_ids_second_build == duck_build.intent_ids_first_build


@pytest.mark.postgres
def test_both_warehouses_decide_the_same_intents(duck_build: Build, pg_build: Build) -> None:
    assert pg_build.intent_ids_first_build == duck_build.intent_ids_first_build
    sql = "select customer_key, count(*) as n from marts.dim_customers group by 1 order by 1"
    assert duck_build.frame(sql).equals(pg_build.frame(sql))


# --------------------------------------------------------------------------- the incremental event chain

FCT_EVENT_COLUMNS = "event_id, customer_key, anonymous_id, customer_id, event_name, event_at, received_at"


def test_incremental_event_chain_equals_a_full_rebuild(duck_build: Build, tmp_path: Path) -> None:
    """int_events_staged and fct_events are incremental. On a copy of the build:
    a micro-batch (a new event, a late copy of a staged event, a row with no
    event id) is appended once, without the copy; then a login that merges two
    people, run through identity as the batch path does, re-keys exactly the
    merged person's events. After both, the tables equal a --full-refresh."""
    import shutil

    shutil.copy(duck_build.settings.duckdb_path, tmp_path / "kairos.duckdb")
    settings = replace(duck_build.settings, duckdb_path=tmp_path / "kairos.duckdb")
    copy = Build(settings, 0.0, set())
    target = tmp_path / "target"
    events_before = copy.scalar("select count(*) from marts.fct_events")
    newest = copy.scalar("select max(received_at) from raw.events")
    # an anonymous-only visitor (never logged in) and a known customer: two people
    visitor_anonymous_id, visitor_key = copy.frame(
        "select anonymous_id, min(customer_key) as customer_key from marts.fct_events "
        "where customer_key is not null and anonymous_id is not null group by anonymous_id "
        "having count(customer_id) = 0 order by anonymous_id limit 1"
    ).iloc[0]
    customer_id, customer_key = copy.frame(
        f"select customer_id, min(customer_key) as customer_key from marts.fct_events "
        f"where customer_id is not null and customer_key <> '{visitor_key}' "
        f"group by customer_id order by customer_id limit 1"
    ).iloc[0]
    old_event = copy.frame("select event_id from intermediate.int_events_staged order by event_id limit 1").iloc[0, 0]

    with connect(settings) as wh:
        columns = "event_id, event_name, source, anonymous_id, customer_id, event_ts, received_at"
        wh.execute(
            f"insert into raw.events ({columns}) values "
            f"('incr_new_1', 'page_view', 'web', '{visitor_anonymous_id}', null, '2026-11-20T11:30:00Z', ?), "
            f"(null, 'page_view', 'web', '{visitor_anonymous_id}', null, '2026-11-20T11:31:00Z', ?)",
            [newest + timedelta(minutes=5), newest + timedelta(minutes=5)],
        )
        wh.execute(
            f"insert into raw.events select * replace (cast(? as timestamp) as received_at) "
            f"from raw.events where event_id = '{old_event}'",
            [newest + timedelta(minutes=6)],
        )
    run_dbt(["run", "--select", "int_events_staged", "fct_events"], settings, vars=VARS, target_path=target)
    assert copy.scalar("select count(*) from marts.fct_events") == events_before + 1
    assert copy.scalar(f"select count(*) from marts.fct_events where event_id = '{old_event}'") == 1
    assert copy.scalar("select customer_key from marts.fct_events where event_id = 'incr_new_1'") == visitor_key

    # the batch path: a login links the visitor's cookie to the customer, identity merges them
    with connect(settings) as wh:
        wh.execute(
            f"insert into raw.events ({columns}) values "
            f"('incr_login_1', 'login', 'web', '{visitor_anonymous_id}', '{customer_id}', '2026-11-20T11:40:00Z', ?)",
            [newest + timedelta(minutes=10)],
        )
    run_dbt(["run", "--select", "int_events_staged", "intermediate.identity", "fct_events"], settings, vars=VARS,
            target_path=target)
    merged_keys = set(copy.frame(
        f"select distinct customer_key from marts.fct_events "
        f"where anonymous_id = '{visitor_anonymous_id}' or customer_id = '{customer_id}'"
    )["customer_key"])
    assert len(merged_keys) == 1 and merged_keys <= {visitor_key, customer_key}
    rekeyed = copy.scalar("select count(*) from marts.fct_events where identity_run_number = 2")
    assert 0 < rekeyed < events_before / 10  # the merged person's events, not the whole table

    incremental = copy.frame(f"select {FCT_EVENT_COLUMNS} from marts.fct_events order by event_id")
    staged = copy.frame("select * from intermediate.int_events_staged order by event_id")
    run_dbt(["run", "--full-refresh", "--select", "int_events_staged", "fct_events"], settings, vars=VARS,
            target_path=target)
    pd.testing.assert_frame_equal(incremental, copy.frame(f"select {FCT_EVENT_COLUMNS} from marts.fct_events order by event_id"))
    pd.testing.assert_frame_equal(staged, copy.frame("select * from intermediate.int_events_staged order by event_id"))
    run_dbt(["test", "--select", "assert_every_valid_raw_event_is_staged"], settings, vars=VARS, target_path=target)


# --------------------------------------------------------------------------- customer-scoped decisions

SCOPED_TABLES = {
    "triggers.trg_abandoned_cart": "customer_key, trigger_ref, product_id, cart_value, triggered_at",
    "triggers.trg_abandoned_browse": "customer_key, trigger_ref, product_id, triggered_at",
    "decisions.decision_contact_history": "delivery_id, customer_key, channel, scenario_id, sent_at",
    "decisions.decision_candidates": "candidate_id, customer_key, scenario_id, step, payload, step_due_at",
    "decisions.decision_guards": "candidate_id, customer_key, channel, channel_status, channel_rank, contact_address, due_at",
    "decisions.decision_log": "candidate_id, customer_key, channel, outcome, stopped_by, details, intent_id, holdout_group, due_at",
    "decisions.message_intents": "intent_id, customer_key, scenario_id, channel, contact_address, payload, due_at",
}


def _scoped_snapshot(build: Build, leave_out: set[str]) -> dict[str, pd.DataFrame]:
    """The scoped tables, without the rows of the people in ``leave_out``."""
    keys = ", ".join(f"'{k}'" for k in sorted(leave_out)) or "''"
    return {
        table: build.frame(
            f"select {columns} from {table} where customer_key not in ({keys}) order by {columns}"
        ).reset_index(drop=True)
        for table, columns in SCOPED_TABLES.items()
    }


@pytest.mark.postgres
def test_the_scoped_decision_path_runs_on_postgres(pg_build: Build) -> None:
    """The shared PostgreSQL build ran the real-time selector once after the
    full build: a scoped run (strategy kairos_scoped) with nothing new, so an
    empty scope that changed no decision."""
    runs = pg_build.frame("select scope, customers_in_scope from decisions.decision_runs order by run_started_at")
    assert list(runs["scope"])[:2] == ["all", "changed"]
    assert runs["customers_in_scope"].iloc[1] == 0
    assert pg_build.scalar("select count(*) from decisions.decision_scope") == 0


def test_realtime_run_redecides_only_the_customers_in_scope_and_equals_a_full_run(duck_build: Build, tmp_path: Path) -> None:
    """The real-time selector decides only for the customers whose events
    arrived since the last decision run (plus recently active ones): the new
    abandoned carts become intents, every other customer keeps the rows of
    the last full run, and the tables equal what a full decision run writes."""
    import shutil

    from orchestration.realtime import cart_candidates, cart_events, in_stock_products

    shutil.copy(duck_build.settings.duckdb_path, tmp_path / "kairos.duckdb")
    settings = replace(duck_build.settings, duckdb_path=tmp_path / "kairos.duckdb")
    copy = Build(settings, 0.0, set())
    target = tmp_path / "target"
    runs_before = copy.scalar("select count(*) from decisions.decision_runs")
    assert copy.scalar("select count(*) from decisions.decision_runs where scope <> 'all'") == 0
    customers = copy.scalar("select count(*) from marts.dim_customers")

    # a micro-batch: three carts abandoned 61 minutes before the decision time
    with connect(settings) as wh:
        buyers = cart_candidates(wh, 3, END)
        products = in_stock_products(wh)
        newest = wh.scalar("select max(received_at) from raw.events")
        for event in cart_events(buyers, products, END):
            columns = ", ".join(event)
            wh.execute(
                f"insert into raw.events ({columns}, received_at) values ({', '.join('?' for _ in event)}, ?)",
                [*event.values(), newest + timedelta(minutes=5)],
            )
    assert len(buyers) == 3
    keys = sorted(k for k, _ in buyers)

    run_dbt(["run", "--selector", "realtime"], settings, vars=VARS, target_path=target)
    scope = copy.frame("select customer_key, reason from decisions.decision_scope")
    assert set(keys) <= set(scope.loc[scope.reason == "new_events", "customer_key"])
    assert set(scope.loc[scope.reason == "new_events", "customer_key"]) == set(keys)
    assert 0 < len(scope) < customers / 2  # the batch and the recently active, not everyone
    last_run = copy.frame("select scope, customers_in_scope from decisions.decision_runs order by run_started_at desc limit 1")
    assert (last_run.loc[0, "scope"], last_run.loc[0, "customers_in_scope"]) == ("changed", len(scope))
    assert copy.scalar("select count(*) from decisions.decision_runs") == runs_before + 1
    # each new cart was decided (an intent, unless a guard such as a holdout stopped it)
    decided = copy.frame(
        "select customer_key, outcome from decisions.decision_log where scenario_id = 'abandoned_cart' "
        f"and trigger_ref like 'crt_rt%' and customer_key in ({', '.join(repr(k) for k in keys)})")
    assert sorted(decided["customer_key"]) == keys
    assert (decided["outcome"] == "intent").any()
    # the shared build decided its ledger people once more with a ledger it then
    # dropped: their kept rows reflect deliveries that are no longer recorded
    ledger_people = set(duck_build.ledger_people.values()) - set(keys)
    scoped = _scoped_snapshot(copy, ledger_people)

    # the same selection deciding every customer writes the same tables
    run_dbt(["run", "--selector", "realtime"], settings, vars={**VARS, "kairos__decision_scope": "all"},
            target_path=target)
    assert copy.scalar("select scope from decisions.decision_runs order by run_started_at desc limit 1") == "all"
    full = _scoped_snapshot(copy, ledger_people)
    for table in SCOPED_TABLES:
        pd.testing.assert_frame_equal(scoped[table], full[table], obj=table)
