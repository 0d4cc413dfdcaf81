"""The synthetic sample shop: a deterministic, messy e-commerce history.

API
---
``generate(customers, days, seed, end=None) -> dict[str, pyarrow.Table]``
    Pure and deterministic: the same arguments give byte-identical tables.
    Keys are ``"raw.<table>"`` (the raw contract in
    ``dbt_project/models/staging/*/_*__sources.yml``, same column names and
    order) and ``"truth.<table>"`` (ground truth, read by tests only).
    ``customers`` is the number of *people* (about 78% register in the CRM,
    11% only ever check out as guests, 11% browse anonymously); ``days`` is
    the length of the click-stream window ending at ``end``. ``end`` is the
    end of the history (``datetime``, ISO string or None); aware values are
    converted to UTC. **None means now (UTC) truncated to the hour**, so pass
    ``end`` whenever you need reproducible output. Every timestamp is a naive
    UTC ``timestamp`` except ``raw.events.event_ts`` (text, as the client sent it).
``generate_and_load(customers, days, seed, end=None, settings=None) -> dict[str, int]``
    Generates, then loads every table into the warehouse (DuckDB or
    PostgreSQL, ``kairos.warehouse.connect``) with ``replace=True`` into the
    schemas ``raw`` and ``truth``. Returns rows per ``"schema.table"``.
``load(tables, settings=None) -> dict[str, int]``
    The loading half of the above, for tables already generated.

Time frame
----------
Events, sessions and contact history cover ``[end - days, end]``. Orders,
CRM rows, consents and prices reach further back (at least three years, or
``days + 180``), because an OMS and a CRM keep history a click stream does
not; this is what makes dormant and lost customers possible at any ``days``.
Nothing is dated after ``end``; an event whose ``received_at`` would fall
after ``end`` has simply not landed yet and is absent.

Raw tables (value sets)
-----------------------
* ``raw.events``: ``source`` in web/app/pos. ``event_name`` canonical names of
  the contract; devices on old client versions (4% of web cookies, 15% of app
  installs) send the legacy spelling of every event ("Page Viewed",
  "Product Viewed", "addToCart", "Product Removed", "Checkout Started",
  "Order Completed", "Products Searched", "Product Added to Wishlist",
  "Signed In", "Identified", "Signed Up", "Application Installed",
  "Return Policy Viewed": all in the seed ``event_name_map``). ``event_ts``:
  web ``2024-05-01T12:34:56.789Z``, app local wall time with offset
  ``2024-05-01T14:34:56+02:00`` (DST-correct, same instant), POS
  ``2024-05-01 12:34:56`` (UTC). ``anonymous_id``: web cookies are lower-case
  UUIDs, app device ids upper-case UUIDs, POS terminals ``pos-S01-2``.
  ``customer_id`` is set on every event after the visitor logs in or signs up
  in the session (and on every event of a "remembered" session: app installs
  after their first login, half the web sessions after the cookie's first
  login); ``email`` only on signup/login/identify. ``cart_id`` (``crt_<hex>``)
  on add_to_cart, remove_from_cart, checkout_started and order_completed;
  ``order_id`` on order_completed (which always matches ``raw.orders``);
  ``quantity`` and ``price`` (price in effect at that moment) on cart events,
  ``price`` also on product_view and wishlist_add; ``push_token``
  (``fcm:<hex>``/``apns:<hex>``) only on app_install. ``session_id`` is a
  UUID, null on POS events. Rows are in arrival order (``received_at``).
* Sessions: a landing page_view, then product views, searches, wishlist adds
  and return-policy views; cart sessions add 1-5 products, maybe remove one,
  maybe start checkout, and end there (abandoned); purchase sessions add the
  order's lines, start checkout (logging in just before it, or identifying
  with an email for a guest checkout) and end with order_completed at the
  order's ``ordered_at``. 20% of purchases were carted in an earlier session
  (1 h - 5 days before, own session_id, same cart_id) and completed later.
  POS sales are a single order_completed at the terminal, with the customer_id
  when a loyalty card was scanned (70%).
* ``raw.orders``: one row per status change; ``status`` placed -> shipped ->
  delivered (-> returned), or placed -> cancelled (online); POS: placed ->
  delivered at once. ``delivered_at`` is set on delivered and returned rows.
  ``currency`` "EUR" (1% of orders "eur"). ``store_id`` S01-S12 on POS orders.
  ``order_total`` = sum(quantity * unit_price - discount_amount) of the lines;
  ``discount_total`` = sum of line discounts.
* ``raw.crm_customers`` (source crm.customers): ``acquisition_source`` in
  organic/paid_search/social/referral/email/store; ``country_code`` in
  DE/AT/NL/FR/GB/US with matching IANA ``time_zone``; phones typed in many
  national and international formats of the customer's country (including
  the bare "(0)170-123 45 67" style, which carries no country code).
* ``raw.consents``: channel email/sms/push/ads, status granted/withdrawn,
  source signup_form/checkout/preference_center/app/store, ids ``CS<8 digits>``.
* ``raw.contact_history``: channel email/sms/push; campaigns
  ``newsletter_<yyyymmdd>`` (weekly email), ``flash_sale_<yyyymmdd>`` (email
  in the last 24 h, to a fifth of the list and most people with a fresh
  cart), ``sms_promo_<yyyymmdd>`` (monthly), ``push_weekly_<yyyymmdd>``,
  ``welcome_1``/``welcome_2``, ``abandoned_cart_1`` (older carts only),
  ``winback_<yyyymmdd>``, ``txn_order_confirmation`` (transactional, sent
  without marketing consent). Marketing messages only go to customers with
  consent at send time. Events: sent, then delivered or bounced (hard for
  invalid addresses; the ESP sends nothing more to an address after its
  first hard bounce), opened, clicked; unsubscribed/complained on the last
  message before a withdrawal made through the channel (a fifth of those
  never reach the CRM's consent log).
* ``raw.products``: 320 products, 40 per category (coffee, pet_food,
  cosmetics, apparel, electronics, home, outdoor, books); one row per PIM
  export (first export after launch, then one per price change); the latest
  ``updated_at`` carries the current ``list_price``. ``raw.price_history``
  has every price change (temporary sales, permanent changes, recent drops in
  the last 5 days for about 7% of products). ``raw.inventory_levels``: a
  snapshot on every day the stock changed; some products are out of stock at
  ``end``, some came back in the last days, some had an outage in between.

Mess, on purpose (shares of rows, all present at default scale)
----------------------------------------------------------------
events: exact duplicates with the same event_id and a later received_at
(~1.5%); late arrivals (app ~4%, POS ~1%, web ~0.5% arrive hours to days
late); unknown names ``test_event_xyz``, ``debug_ping``,
``experiment_exposure``, ``scroll_depth_75``, ``TEST EVENT`` (~0.8%, extra
rows with a fresh event_id); unparseable ``event_ts`` ("not-a-timestamp",
epoch millis, "31/12/2024 10:00", "2024-13-01T10:00:00Z",
"2024-02-30T08:15:00Z", "", ...) (~0.7%); ``event_id`` null or "" (~0.5%);
``anonymous_id`` null or "" and ``customer_id`` null (~0.5%). Malformed
rows are never order_completed/signup/login/identify/app_install events.
orders: copies of a placed row with a null order_id (~0.6% of orders), a
negative total on the latest row (~0.5% of orders), a null total (~0.3% of
rows); order_lines: quantity 0 or -1 (~0.5%). CRM: rows whose customer_id is
null, "" or "  " (~0.8%); unparseable birthday ("31.12.1985", "1985-02-30",
"unknown", "85-12-31", "1985/12/31", "0000-00-00") (~1%), birthday null for
~4% of customers; several rows per customer (30% have later versions: a new
phone format, a move, email case); upper-case / capitalised / space-padded
emails (~13% of typed emails everywhere); invalid emails (~1.2% of accounts);
invalid phones (truncated, or "... mobil") (~1%). Products: a few rows with
a null product_id, null list_price or negative unit_cost; price_history and
inventory_levels: ~0.5% / 0.3% duplicate rows, inventory ~0.2% negative
counts; consents ~0.5% and contact_history ~0.5% duplicate rows.

Identity puzzles
----------------
Several web cookies per person (browsing anonymously on each until the first
login there), app installs, family tablets (a household of 2-3 registered
people shares one device, each logging in as themselves), POS terminals used
by everybody, guest checkouts (never-registered people, and 6% of registered
people's online orders, with their usual email), second email addresses (8%
of people and every B2B customer) used on 10% of their checkouts, email
typos on 1.5-3% of checkouts, 1.5% of registered people with a forgotten
second account (second email, same phone, logged in on their last cookie
when they have two or more), newsletter sign-ups (identify) by guests.
A family tablet links 2-3 customer ids, at or under the stitching threshold
``kairos__identity_max_customers_per_device`` (3), so it merges a household:
a deliberate trap. POS terminals link many more and are shared.

Code layout: ``_world`` (people, accounts, devices, time zones), ``_catalog``
(products, prices, stock), ``_commerce`` (orders), ``_events`` (sessions,
events, carts), ``_contacts`` (CRM, consents, contact history), ``_truth``,
``_text`` (emails and phones as typed), ``_vocab`` (static lists), ``_util``.
Everything is vectorised with numpy/pyarrow; loops run over products,
categories, formats or campaign dates only. Each stage draws from its own
random stream (seed + stage name).

Truth tables (schema ``truth``; no model may read them)
-------------------------------------------------------
``truth.persons``: one row per person. person_id (``PER0000001``),
customer_id (primary account; null for guests and anonymous visitors),
second_customer_id (forgotten second account or null), person_type
(registered/guest/anonymous), latent_intent (0..1 purchase propensity: drives
sessions, carts and order rate), preferred_channel (email/sms/push: more
consent and engagement there), is_b2b, household_id, country_code, city,
time_zone, primary_email / secondary_email (clean lower-case), registered_at,
first_seen_at, churned_at (when they stopped buying; null if never),
favourite_category, second_category, discount_affinity (0..1),
replenishment_product_id and replenishment_cycle_days (consumable habit),
orders_count, first_order_at, last_order_at (non-cancelled orders),
lifecycle_stage (anonymous/prospect/new/active/dormant/lost by days since the
first/last order at ``end``: 30/90/365, as the lifecycle segment).

``truth.identifiers``: one row per distinct (identifier_type,
identifier_value) that occurs non-blank in any raw table. identifier_type in
customer_id/email/phone/anonymous_id/push_token; identifier_value exactly as
it appears in raw (so "Anna@Web.de " and "anna@web.de" are two rows of the
same person); person_id; is_shared; person_count (distinct people seen with
it); owner_person_id; identifier_kind (customer_id, second_customer_id,
web_cookie, app_device, family_tablet, pos_terminal, push_token,
email_primary, email_secondary, email_typo, email_invalid, phone);
normalised_value (what a perfect normaliser makes of it: emails lower-cased
and trimmed, phones the person's real number in E.164 however they were
typed, other identifiers unchanged; join stitched identifiers on this).
**Shared identifiers** (used by more than one person: POS terminals, family
tablets and their push tokens) have ``person_id`` NULL and
``is_shared = true``; ``owner_person_id`` names the tablet's owner (the
household member who set it up) and is NULL for POS terminals. An identifier
of one person has owner_person_id = person_id.

``truth.carts``: one row per cart with activity in the window. cart_id,
person_id, abandoned (never completed by ``end`` and still holding items,
regardless of idle time), last_activity_at (last add/remove/checkout),
created_at, item_count, cart_value, completed_order_id, completed_at, source.

``truth.orders``: one row per order. order_id, person_id, customer_id (the
account used, null for guest/anonymous POS), is_guest_checkout, email_kind
(none/primary/secondary/typo), source, status (latest known), order_total,
ordered_at.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from kairos.settings import Settings

RAW_TABLES = (
    "events", "orders", "order_lines", "products", "inventory_levels", "price_history",
    "crm_customers", "consents", "contact_history",
)
TRUTH_TABLES = ("persons", "identifiers", "carts", "orders")

__all__ = ["generate", "generate_and_load", "load", "resolve_end", "RAW_TABLES", "TRUTH_TABLES"]


def resolve_end(end: str | dt.datetime | None) -> dt.datetime:
    """The end of the history as a naive UTC datetime (None: now, truncated to the hour)."""
    if end is None:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return now.replace(minute=0, second=0, microsecond=0)
    if isinstance(end, str):
        text = end.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        end = dt.datetime.fromisoformat(text)
    elif isinstance(end, dt.date) and not isinstance(end, dt.datetime):
        end = dt.datetime(end.year, end.month, end.day)
    if not isinstance(end, dt.datetime):
        raise TypeError(f"end must be a datetime, an ISO string or None, not {type(end).__name__}")
    if end.tzinfo is not None:
        end = end.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return end.replace(microsecond=(end.microsecond // 1000) * 1000)


def generate(customers: int, days: int, seed: int, end: str | dt.datetime | None = None) -> dict[str, pa.Table]:
    """Generate the sample shop: ``{"raw.<table>": ..., "truth.<table>": ...}`` (see the module doc)."""
    from kairos.generator import _catalog, _commerce, _contacts, _events, _truth, _world

    w = _world.World(customers, days, seed, resolve_end(end))
    _world.build_people(w)
    _catalog.build_catalog(w)
    _commerce.build_orders(w)
    _events.build_sessions(w)
    _events.build_events(w)
    _contacts.build_consents(w)

    events, ev_meta = _events.event_table(w)
    order_tables, order_person = _commerce.order_tables(w)
    catalog = _catalog.catalog_tables(w)
    crm, crm_meta = _contacts.crm_table(w)
    contact_history, _ = _contacts.contact_history_table(w)
    consents = _contacts.consent_table(w)  # after contact history: opt-outs move withdrawals

    out = {
        "raw.events": events,
        "raw.orders": order_tables["orders"],
        "raw.order_lines": order_tables["order_lines"],
        "raw.products": catalog["products"],
        "raw.inventory_levels": catalog["inventory_levels"],
        "raw.price_history": catalog["price_history"],
        "raw.crm_customers": crm,
        "raw.consents": consents,
        "raw.contact_history": contact_history,
        "truth.persons": _truth.persons_table(w),
        "truth.identifiers": _truth.identifiers_table(
            w, crm, crm_meta, order_tables["orders"], order_person, events, ev_meta
        ),
        "truth.carts": _truth.carts_table(w),
        "truth.orders": _truth.orders_table(w),
    }
    return {k: v.combine_chunks() for k, v in out.items()}


def load(tables: dict[str, pa.Table], settings: Settings | None = None) -> dict[str, int]:
    """Load ``{"schema.table": arrow}`` into the warehouse (replacing); rows per ``"schema.table"``."""
    from kairos.warehouse import connect

    counts: dict[str, int] = {}
    with connect(settings) as wh:
        for key, table in tables.items():
            schema, name = key.split(".", 1)
            counts[key] = wh.load_arrow(schema, name, table, replace=True)
    return counts


def generate_and_load(
    customers: int,
    days: int,
    seed: int,
    end: str | dt.datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Generate the shop and load every table into the warehouse (schemas raw and truth);
    rows per ``"schema.table"``."""
    return load(generate(customers, days, seed, end), settings)
