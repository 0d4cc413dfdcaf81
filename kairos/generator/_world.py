"""The people of the sample shop: who they are, their accounts and devices.

A *person* is the ground-truth human (truth.persons). A registered person has
one CRM *account* (customer_id), a few have a second, forgotten one. Devices
are web cookies, app installations, family tablets (shared by a household)
and POS terminals (shared by everybody who shops in the store).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from kairos.generator import _vocab as V
from kairos.generator._util import (
    at,
    MS_PER_D,
    MS_PER_H,
    hex_strings,
    padded_ids,
    repeat_ranges,
    stream,
    uuid_strings,
    weighted_choice,
)

# person types
REG, GUEST, ANON = 0, 1, 2
PERSON_TYPES = ("registered", "guest", "anonymous")
# device kinds
WEB, APP, TAB_WEB, TAB_APP, POS = 0, 1, 2, 3, 4
DEVICE_KINDS = ("web_cookie", "app_device", "family_tablet", "family_tablet", "pos_terminal")
CHANNELS = ("email", "sms", "push")
NEVER = np.iinfo(np.int64).max // 4


class World:
    """Time frame, random streams and every generated array, stage by stage."""

    def __init__(self, customers: int, days: int, seed: int, end: dt.datetime) -> None:
        if customers < 1:
            raise ValueError("customers must be at least 1")
        if days < 1:
            raise ValueError("days must be at least 1")
        self.n = int(customers)
        self.days = int(days)
        self.seed = int(seed)
        self.end_dt = end
        self.E = int((end - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1))
        self.S = self.E - self.days * MS_PER_D
        # orders and CRM reach back further than the click stream (OMS and CRM keep history)
        self.hist_days = max(3 * 365, self.days + 180)
        self.H = self.E - self.hist_days * MS_PER_D
        self._tz_offsets()

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, name)

    # -- time zones ---------------------------------------------------------
    def _tz_offsets(self) -> None:
        """UTC offset (minutes) per time zone and UTC hour over the whole history, with DST."""
        first_hour = self.H // MS_PER_H - 48
        hours = (self.E // MS_PER_H + 48) - first_hour
        self._tz_first_hour = first_hour
        table = np.zeros((len(V.TIME_ZONES), hours), dtype=np.int64)
        try:
            from zoneinfo import ZoneInfo

            for i, name in enumerate(V.TIME_ZONES):
                zone = ZoneInfo(name)
                # sample every 6 hours, refine hourly where the offset changes
                base = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=int(first_hour))
                coarse = np.array(
                    [
                        (base + dt.timedelta(hours=h)).astimezone(zone).utcoffset().total_seconds() // 60
                        for h in range(0, hours, 6)
                    ],
                    dtype=np.int64,
                )
                row = np.repeat(coarse, 6)[:hours]
                for j in np.flatnonzero(np.diff(coarse)):
                    for h in range(j * 6, min((j + 1) * 6 + 1, hours)):
                        row[h] = (base + dt.timedelta(hours=h)).astimezone(zone).utcoffset().total_seconds() // 60
                table[i] = row
        except Exception:  # noqa: BLE001 - no tz database: standard offsets
            std = {"Europe/London": 0, "America/New_York": -300, "America/Chicago": -360,
                   "America/Denver": -420, "America/Los_Angeles": -480}
            for i, name in enumerate(V.TIME_ZONES):
                table[i] = std.get(name, 60)
        self._tz_table = table

    def tz_offset(self, tz: np.ndarray, ms: np.ndarray) -> np.ndarray:
        """UTC offset in minutes of time zone index `tz` at UTC epoch-ms `ms`."""
        h = np.clip(np.asarray(ms) // MS_PER_H - self._tz_first_hour, 0, self._tz_table.shape[1] - 1)
        return self._tz_table[np.asarray(tz), h]

    def diurnal(self, rng: np.random.Generator, ms: np.ndarray, tz: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Move each time to a plausible local hour of the same local day, kept within [lo, hi]."""
        weights = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 4, 4, 4.5, 4.5, 4, 4, 4.5, 5, 6, 7.5, 8.5, 8, 6, 3])
        off = self.tz_offset(tz, ms) * 60_000
        local = ms + off
        day = np.floor_divide(local, MS_PER_D) * MS_PER_D
        hour = weighted_choice(rng, weights, len(ms))
        within = hour * MS_PER_H + rng.integers(0, MS_PER_H, len(ms))
        out = day + within - off
        # near the ends of the range keep the original time rather than piling up on the bound
        return np.where((out < lo) | (out > hi), np.clip(ms, lo, hi), out)


def build_people(w: World) -> None:
    rng = w.rng("people")
    n = w.n
    E, S, H = w.E, w.S, w.H

    u = rng.random(n)
    ptype = np.where(u < 0.78, REG, np.where(u < 0.89, GUEST, ANON)).astype(np.int8)
    country = weighted_choice(rng, V.COUNTRY_WEIGHTS, n)
    city = np.zeros(n, dtype=np.int64)
    city_country = np.array([V.COUNTRIES.index(c[0]) for c in V.CITIES])
    for ci in range(len(V.COUNTRIES)):
        members = np.flatnonzero(country == ci)
        options = np.flatnonzero(city_country == ci)
        city[members] = options[weighted_choice(rng, [V.CITIES[k][3] for k in options], len(members))]

    # names: one global list per kind, offsets per country
    first_all, last_all, first_off, last_off = [], [], [], []
    for c in V.COUNTRIES:
        first_off.append(len(first_all))
        first_all.extend(V.FIRST_NAMES[c])
        last_off.append(len(last_all))
        last_all.extend(V.LAST_NAMES[c])
    first_len = np.array([len(V.FIRST_NAMES[c]) for c in V.COUNTRIES])
    last_len = np.array([len(V.LAST_NAMES[c]) for c in V.COUNTRIES])
    first_idx = np.array(first_off)[country] + (rng.random(n) * first_len[country]).astype(np.int64)
    last_idx = np.array(last_off)[country] + (rng.random(n) * last_len[country]).astype(np.int64)
    w.first_names = np.array(first_all)
    w.last_names = np.array(last_all)
    w.first_ascii = np.array([V.ascii_slug(x) for x in first_all])
    w.last_ascii = np.array([V.ascii_slug(x) for x in last_all])

    # households: a few registered people live together and share a tablet
    reg_idx = np.flatnonzero(ptype == REG)
    household = np.full(n, -1, dtype=np.int64)
    hh_pool = rng.permutation(reg_idx)[: int(round(0.08 * len(reg_idx)))]
    sizes = rng.choice([2, 3], size=len(hh_pool), p=[0.65, 0.35])
    hh_owner = []
    pos = 0
    while pos + 2 <= len(hh_pool):
        size = int(min(sizes[len(hh_owner)], len(hh_pool) - pos))
        members = hh_pool[pos : pos + size]
        household[members] = len(hh_owner)
        hh_owner.append(members[0])
        country[members] = country[members[0]]
        city[members] = city[members[0]]
        last_idx[members] = last_idx[members[0]]
        first_idx[members] = first_off[country[members[0]]] + (
            rng.random(size) * first_len[country[members[0]]]
        ).astype(np.int64)
        pos += size
    w.hh_owner = np.array(hh_owner, dtype=np.int64)
    tz = np.array([V.TIME_ZONES.index(V.CITIES[c][2]) for c in range(len(V.CITIES))])[city]

    intent = np.where(ptype == ANON, rng.beta(1.2, 8.0, n), rng.beta(2.0, 5.0, n))
    is_b2b = (ptype == REG) & (rng.random(n) < 0.03)
    has_app = rng.random(n) < np.select([ptype == REG, ptype == GUEST], [0.40, 0.10], 0.12)
    pref = weighted_choice(rng, [0.60, 0.15, 0.25], n)
    pref = np.where((pref == 2) & ~has_app, 0, pref)
    discount_aff = rng.beta(1.5, 5.0, n)
    cat_w = np.asarray(V.CATEGORY_WEIGHTS)
    fav1 = weighted_choice(rng, cat_w, n)
    fav2 = weighted_choice(rng, cat_w, n)
    fav2 = np.where(fav2 == fav1, (fav1 + 1 + rng.integers(0, 7, n)) % 8, fav2)

    # when they became known: registration (registered) or first visit (guests, anonymous)
    window = E - S
    v = rng.random(n)
    new_span = min(30 * MS_PER_D, window)
    reg_ms = np.where(
        v < 0.07,
        E - (rng.random(n) * new_span).astype(np.int64),
        np.where(
            v < 0.19,
            S + (rng.random(n) * window).astype(np.int64),
            H + (rng.random(n) * max(S - H - MS_PER_D, MS_PER_D)).astype(np.int64),
        ),
    )
    anon_seen = S - 30 * MS_PER_D + (rng.random(n) * (window + 30 * MS_PER_D)).astype(np.int64)
    reg_ms = np.where(ptype == ANON, anon_seen, reg_ms)
    reg_ms = np.minimum(reg_ms, E - 5 * 60_000)

    # buying: a yearly order rate, and many people stop buying at some point
    rate = (0.5 + 9.0 * intent**1.6) * np.where(is_b2b, 3.0, 1.0) * np.where(ptype == GUEST, 0.6, 1.0)
    rate = np.where(ptype == ANON, 0.0, rate)
    churns = rng.random(n) < (0.35 + 0.3 * (1 - intent))
    churn_ms = reg_ms + (rng.exponential(500.0, n) * MS_PER_D).astype(np.int64)
    churn_ms = np.where(churns & (churn_ms < E), churn_ms, NEVER)
    # anonymous visitors come for a few weeks at most
    anon_end = reg_ms + (rng.uniform(1, 60, n) * MS_PER_D).astype(np.int64)
    churn_ms = np.where(ptype == ANON, np.where(anon_end < E, anon_end, NEVER), churn_ms)
    active_end = np.minimum(churn_ms, E)

    age_years = 18 + rng.beta(2.0, 3.0, n) * 62
    birthday_days = (E // MS_PER_D - (age_years * 365.25).astype(np.int64)).astype(np.int64)

    w.ptype, w.country, w.city, w.tz = ptype, country, city, tz
    w.first_idx, w.last_idx, w.household = first_idx, last_idx, household
    w.intent, w.is_b2b, w.has_app, w.pref = intent, is_b2b, has_app, pref
    w.discount_aff, w.fav1, w.fav2 = discount_aff, fav1, fav2
    w.reg_ms, w.rate, w.churn_ms, w.active_end = reg_ms, rate, churn_ms, active_end
    w.birthday_days = birthday_days
    w.person_ids = padded_ids("PER", np.arange(1, n + 1), 7)

    _emails(w, rng)
    _phones(w, rng)
    _accounts(w, rng)
    _devices(w, rng)


def _local_parts(w: World, rng: np.random.Generator, idx: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
    first = w.first_ascii[w.first_idx[idx]]
    last = w.last_ascii[w.last_idx[idx]]
    m = len(idx)
    add = np.strings.add
    num2 = rng.integers(1, 99, m).astype(str)
    num4 = rng.integers(70, 2005, m).astype(str)
    initial = np.strings.slice(first, 0, 1)
    options = [
        add(add(first, "."), last),
        add(first, last),
        add(add(initial, "."), last),
        add(add(first, "_"), last),
        add(add(add(first, "."), last), num2),
        add(add(last, "."), first),
        add(first, num4),
    ]
    pick = weighted_choice(rng, [0.30, 0.12, 0.12, 0.08, 0.15, 0.08, 0.15], m)
    if avoid is not None:
        pick = np.where(pick == avoid, (pick + 1) % len(options), pick)
    out = options[0].astype(object)
    for k in range(1, len(options)):
        out = np.where(pick == k, options[k], out)
    return out.astype(str), pick


def _domains(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    out = np.empty(len(country), dtype=object)
    for ci, c in enumerate(V.COUNTRIES):
        members = np.flatnonzero(country == ci)
        names = [d for d, _ in V.EMAIL_DOMAINS[c]]
        out[members] = np.array(names)[weighted_choice(rng, [p for _, p in V.EMAIL_DOMAINS[c]], len(members))]
    return out.astype(str)


def _emails(w: World, rng: np.random.Generator) -> None:
    n = w.n
    allp = np.arange(n)
    local, pattern = _local_parts(w, rng, allp)
    domain = _domains(rng, w.country)
    company = np.array(V.COMPANY_DOMAINS)[rng.integers(0, len(V.COMPANY_DOMAINS), n)]
    domain = np.where(w.is_b2b, company, domain)
    email1 = np.strings.add(np.strings.add(local, "@"), domain)
    # a second address: work / private / old one
    has2 = (w.ptype != ANON) & ((rng.random(n) < 0.08) | w.is_b2b)
    local2, _ = _local_parts(w, rng, allp, avoid=pattern)
    domain2 = _domains(rng, w.country)
    domain2 = np.where(domain2 == domain, np.where(domain == "gmail.com", "outlook.com", "gmail.com"), domain2)
    email2 = np.strings.add(np.strings.add(local2, "@"), domain2)
    # make every address unique to its person
    for _ in range(5):
        both = np.concatenate([email1, np.where(has2, email2, "")])
        _, first_pos, inverse, counts = np.unique(both, return_index=True, return_inverse=True, return_counts=True)
        dup = (counts[inverse] > 1) & (np.arange(2 * n) != first_pos[inverse]) & (both != "")
        if not dup.any():
            break
        suffix = rng.integers(2, 9999, 2 * n).astype(str)
        fixed = np.strings.add(np.strings.add(np.strings.add(np.strings.partition(both, "@")[0], suffix), "@"),
                               np.strings.partition(both, "@")[2])
        both = np.where(dup, fixed, both)
        email1, email2 = both[:n], np.where(has2, both[n:], email2)
    w.email1 = email1.astype(str)
    w.email2 = email2.astype(str)
    w.has_email2 = has2
    # anonymous visitors never tell us an address
    w.has_email = w.ptype != ANON


def _phones(w: World, rng: np.random.Generator) -> None:
    n = w.n
    digits = np.zeros((n, 10), dtype=np.uint8)
    length = np.zeros(n, dtype=np.int64)
    for ci, c in enumerate(V.COUNTRIES):
        members = np.flatnonzero(w.country == ci)
        prefixes, rest = V.PHONE_PLAN[c]
        plen = len(prefixes[0])
        pre = np.array([[int(ch) for ch in p] for p in prefixes], dtype=np.uint8)[rng.integers(0, len(prefixes), len(members))]
        body = rng.integers(0, 10, (len(members), rest), dtype=np.uint8)
        if c == "US":
            body[:, 0] = rng.integers(2, 10, len(members))
        digits[members, :plen] = pre
        digits[members, plen : plen + rest] = body
        length[members] = plen + rest
    w.phone_digits = digits
    w.phone_len = length
    w.has_phone = (w.ptype != ANON) & (rng.random(n) < 0.85)


def _accounts(w: World, rng: np.random.Generator) -> None:
    """CRM accounts: one per registered person, plus a forgotten second one for a few."""
    reg = np.flatnonzero(w.ptype == REG)
    dup = reg[rng.random(len(reg)) < 0.015]
    w.has_email2[dup] = True
    acc_person = np.concatenate([reg, dup])
    acc_second = np.concatenate([np.zeros(len(reg), bool), np.ones(len(dup), bool)])
    acc_reg = w.reg_ms[acc_person].copy()
    later = w.reg_ms[dup] + (rng.random(len(dup)) * (w.E - w.reg_ms[dup])).astype(np.int64)
    acc_reg[len(reg):] = later
    acc_email = np.where(acc_second, w.email2[acc_person], w.email1[acc_person])
    order = np.lexsort((acc_person, acc_reg))
    acc_person, acc_second, acc_reg, acc_email = acc_person[order], acc_second[order], acc_reg[order], acc_email[order]
    w.acc_person, w.acc_second, w.acc_reg, w.acc_email = acc_person, acc_second, acc_reg, acc_email
    w.n_acc = len(acc_person)
    w.acc_ids = padded_ids("C", 1_000_000 + np.arange(1, w.n_acc + 1), 7)
    # account index per person (primary / second), -1 where none
    w.primary_acc = np.full(w.n, -1, dtype=np.int64)
    w.second_acc = np.full(w.n, -1, dtype=np.int64)
    w.primary_acc[acc_person[~acc_second]] = np.flatnonzero(~acc_second)
    w.second_acc[acc_person[acc_second]] = np.flatnonzero(acc_second)
    # acquisition: people living in a store city came through the store more often
    store_cities = {c for _, c in V.STORES}
    in_store_city = np.array([V.CITIES[c][1] in store_cities for c in range(len(V.CITIES))])[w.city]
    w.in_store_city = in_store_city
    sources = ("organic", "paid_search", "social", "referral", "email", "store")
    acq = weighted_choice(rng, [0.35, 0.2, 0.15, 0.1, 0.08, 0.12], w.n_acc)
    acq = np.where(in_store_city[acc_person] & (rng.random(w.n_acc) < 0.15), 5, acq)
    w.acc_acq = acq
    w.acq_sources = sources


def _devices(w: World, rng: np.random.Generator) -> None:
    n = w.n
    # web cookies
    n_web = np.where(w.ptype == ANON, 1 + (rng.random(n) < 0.2), 1 + np.minimum(rng.poisson(0.8, n), 3))
    web_owner, web_rank = repeat_ranges(n_web)
    n_app = np.where(w.has_app, 1 + (rng.random(n) < 0.1), 0)
    app_owner, app_rank = repeat_ranges(n_app)
    n_hh = len(w.hh_owner)
    tab_is_app = rng.random(n_hh) < 0.4
    n_pos = len(V.STORES) * V.TERMINALS_PER_STORE

    kinds = np.concatenate([
        np.full(len(web_owner), WEB), np.full(len(app_owner), APP),
        np.where(tab_is_app, TAB_APP, TAB_WEB), np.full(n_pos, POS),
    ]).astype(np.int8)
    owner = np.concatenate([web_owner, app_owner, w.hh_owner, np.full(n_pos, -1)]).astype(np.int64)
    nd = len(kinds)
    w.dev_kind, w.dev_owner = kinds, owner
    w.n_dev = nd

    web_ids = uuid_strings(rng, len(web_owner))
    app_ids = uuid_strings(rng, len(app_owner), upper=True)
    tab_web = uuid_strings(rng, n_hh)
    tab_app = uuid_strings(rng, n_hh, upper=True)
    import pyarrow as pa
    import pyarrow.compute as pc

    tab_ids = pc.if_else(pa.array(tab_is_app), tab_app, tab_web)
    pos_ids = pa.array([f"pos-{s}-{t}" for s, _ in V.STORES for t in range(1, V.TERMINALS_PER_STORE + 1)])
    w.dev_ids = pa.concat_arrays([web_ids, app_ids, tab_ids.cast(pa.string()), pos_ids])
    w.pos_store = np.repeat(np.arange(len(V.STORES)), V.TERMINALS_PER_STORE)
    w.pos_dev0 = nd - n_pos

    # per person: where their web cookies and app devices sit in the device arrays
    w.web_start = np.cumsum(n_web) - n_web
    w.web_cnt = n_web
    w.app_start = len(web_owner) + np.cumsum(n_app) - n_app
    w.app_cnt = n_app
    w.tablet = np.full(n, -1, dtype=np.int64)
    hh = w.household >= 0
    w.tablet[hh] = len(web_owner) + len(app_owner) + w.household[hh]

    is_app = (kinds == APP) | (kinds == TAB_APP)
    w.dev_is_app = is_app
    # old client versions send legacy event names
    w.dev_legacy = rng.random(nd) < np.where(is_app, 0.15, 0.04)
    w.dev_legacy[kinds == POS] = False
    # push tokens for app installations
    tokens = pc.if_else(
        pa.array(rng.random(nd) < 0.5),
        hex_strings(rng, nd, 40, prefix="fcm:"),
        hex_strings(rng, nd, 64, prefix="apns:"),
    )
    w.dev_token = pc.if_else(pa.array(is_app), tokens, pa.nulls(nd, pa.string()))

    # which account logs in on the device, and from when (registered owners only)
    acc = np.full(nd, -1, dtype=np.int64)
    own = owner >= 0
    acc[own] = w.primary_acc[owner[own]]
    sec_person = w.second_acc >= 0
    last_web = w.web_start + w.web_cnt - 1
    use_second = sec_person & (w.web_cnt >= 2)
    acc[last_web[use_second]] = w.second_acc[use_second]
    acc[(kinds == POS) | (kinds == TAB_WEB) | (kinds == TAB_APP)] = -1
    w.dev_acc = acc
    base = np.where(own, w.reg_ms[np.maximum(owner, 0)], w.E)
    already = (base < w.S) & (rng.random(nd) < np.where(is_app, 0.85, 0.55))
    delay = rng.exponential(np.where(is_app, 3.0, 20.0), nd) * MS_PER_D
    first_login = np.where(already, w.S - MS_PER_D, np.maximum(base, w.S) + delay.astype(np.int64))
    # people who register in the window sign up on their first web cookie (or their app)
    signup_dev = np.where(w.has_app & (rng.random(n) < 0.5), w.app_start, w.web_start)
    in_window = (w.ptype == REG) & (w.reg_ms >= w.S)
    w.signup_dev = np.where(in_window, signup_dev, -1)
    first_login[w.signup_dev[in_window]] = w.reg_ms[in_window]
    acc_reg = at(w.acc_reg, acc, NEVER)
    first_login = np.maximum(first_login, acc_reg)
    first_login = np.where(acc >= 0, first_login, NEVER)
    w.dev_first_login = first_login
    # app installations seen in the window (new installs, reinstalls, updates)
    w.dev_install = is_app & ((base >= w.S) | (rng.random(nd) < 0.35))
