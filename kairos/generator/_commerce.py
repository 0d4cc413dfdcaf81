"""Orders and order lines: regular purchases, consumable re-buy cycles,
guest checkouts, POS sales, status changes, and the broken rows of an OMS."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from kairos.generator import _vocab as V
from kairos.generator._catalog import PER_CATEGORY, available, person_categories, pick_products, price_at
from kairos.generator._text import email_as_typed, email_typo, phone_as_typed
from kairos.generator._util import (
    at,
    MS_PER_D,
    MS_PER_H,
    MS_PER_MIN,
    padded_ids,
    repeat_ranges,
    round_money,
    str_col,
    take_str,
    ts_col,
)
from kairos.generator._world import ANON, NEVER, REG, World

SRC_WEB, SRC_APP, SRC_POS = 0, 1, 2
SOURCES = ("web", "app", "pos")
# which address a checkout used
EMAIL_NONE, EMAIL_PRIMARY, EMAIL_SECOND, EMAIL_TYPO = 0, 1, 2, 3
EMAIL_KINDS = ("none", "primary", "secondary", "typo")
YEAR = 365 * MS_PER_D


def build_orders(w: World) -> None:
    rng = w.rng("orders")
    n = w.n
    buyer = w.ptype != ANON
    start = w.reg_ms
    span = np.where(buyer, np.maximum(w.active_end - start, 0), 0)

    # regular orders: a Poisson process over each person's active span
    cnt = rng.poisson(w.rate * span / YEAR)
    p1, _ = repeat_ranges(cnt)
    t1 = start[p1] + (rng.random(len(p1)) * span[p1]).astype(np.int64)
    t1 = w.diurnal(rng, t1, w.tz[p1], start[p1], w.active_end[p1])

    # consumable re-buy cycles for people with a habit
    consumable_cats = [V.CATEGORIES.index(c) for c in ("coffee", "pet_food", "cosmetics")]
    habit = buyer & (rng.random(n) < 0.3) & (span > 0)
    fav_cons = np.where(np.isin(w.fav1, consumable_cats), w.fav1,
                        np.where(np.isin(w.fav2, consumable_cats), w.fav2,
                                 np.array(consumable_cats)[rng.integers(0, 3, n)]))
    habit_prod = np.full(n, -1, dtype=np.int64)
    hp = np.flatnonzero(habit)
    cand = pick_products(w, rng, fav_cons[hp], start[hp], buyable=False)
    for _ in range(10):
        bad = ~w.prod_consumable[cand]
        if not bad.any():
            break
        c = w.prod_cat[cand[bad]]
        cand[bad] = c * PER_CATEGORY + (cand[bad] - c * PER_CATEGORY + 1) % PER_CATEGORY
    habit_prod[hp] = cand
    habit = habit & (habit_prod >= 0)
    habit[hp] &= w.prod_consumable[cand]
    cycle = np.where(habit, w.prod_repl[np.maximum(habit_prod, 0)] * rng.uniform(0.8, 1.3, n) * MS_PER_D, 0).astype(np.int64)
    first = start + (rng.random(n) * np.maximum(cycle, 1)).astype(np.int64)
    ncyc = np.where(habit & (first < w.active_end), (w.active_end - first) // np.maximum(cycle, 1) + 1, 0)
    ncyc = np.minimum(ncyc, 400)
    p2, k2 = repeat_ranges(ncyc)
    t2 = first[p2] + k2 * cycle[p2] + (rng.normal(0, 0.07, len(p2)) * cycle[p2]).astype(np.int64)
    keep = (rng.random(len(p2)) > 0.1) & (t2 >= start[p2]) & (t2 <= w.active_end[p2])
    p2, t2 = p2[keep], t2[keep]
    w.habit_prod, w.habit_cycle = np.where(habit, habit_prod, -1), np.where(habit, cycle, 0)

    person = np.concatenate([p1, p2])
    t = np.concatenate([t1, t2])
    repl = np.concatenate([np.full(len(p1), -1), habit_prod[p2]])
    order = np.lexsort((person, t))
    person, t, repl = person[order], t[order], repl[order]
    t = np.minimum(t, w.E - MS_PER_MIN)
    m = len(person)

    # where: store, app or web
    u = rng.random(m)
    pos_p = np.where(w.in_store_city[person], 0.3, 0.02) * np.where(repl >= 0, 0.5, 1.0)
    app_p = np.where(w.has_app[person], 0.55, 0.0)
    src = np.where(u < pos_p, SRC_POS, np.where(rng.random(m) < app_p, SRC_APP, SRC_WEB))
    store_city = {city: i for i, (_, city) in enumerate(V.STORES)}
    home_store = np.array([store_city.get(V.CITIES[c][1], -1) for c in range(len(V.CITIES))])[w.city[person]]
    store = np.where(home_store >= 0, home_store, rng.integers(0, len(V.STORES), m))
    terminal = w.pos_dev0 + store * V.TERMINALS_PER_STORE + rng.integers(0, V.TERMINALS_PER_STORE, m)

    # which account, if any
    acc = np.where(w.ptype[person] == REG, w.primary_acc[person], -1)
    sec = w.second_acc[person]
    use_sec = (sec >= 0) & (rng.random(m) < 0.35) & (t >= at(w.acc_reg, sec, NEVER))
    acc = np.where(use_sec, sec, acc)
    guest_checkout = (src != SRC_POS) & (rng.random(m) < 0.06)
    no_loyalty = (src == SRC_POS) & (rng.random(m) < 0.3)
    acc = np.where(guest_checkout | no_loyalty, -1, acc)

    # contact points given at checkout
    v = rng.random(m)
    online = src != SRC_POS
    e_kind = np.where(online | (v < 0.15), EMAIL_PRIMARY, EMAIL_NONE)
    e_kind = np.where((e_kind == EMAIL_PRIMARY) & w.has_email2[person] & (rng.random(m) < 0.1) & ~use_sec, EMAIL_SECOND, e_kind)
    e_kind = np.where(use_sec, EMAIL_SECOND, e_kind)
    e_kind = np.where((e_kind != EMAIL_NONE) & (rng.random(m) < np.where(acc >= 0, 0.015, 0.03)), EMAIL_TYPO, e_kind)
    clean = np.where(e_kind == EMAIL_SECOND, w.email2[person], w.email1[person])
    typed = email_as_typed(rng, clean)
    typed = np.where(e_kind == EMAIL_TYPO, email_typo(rng, clean), typed)
    phone_given = w.has_phone[person] & (rng.random(m) < np.where(online, 0.45, 0.05))
    phone = phone_as_typed(w, rng, person)

    # order ids follow time
    w.o_person, w.o_t, w.o_src, w.o_acc, w.o_store, w.o_terminal = person, t, src, acc, store, terminal
    w.o_email_kind, w.o_email, w.o_phone, w.o_phone_given = e_kind, typed, phone, phone_given
    w.o_guest = online & (acc < 0)
    w.n_orders = m
    w.order_ids = padded_ids("O", 10_000_000 + np.arange(1, m + 1), 8)
    _lines(w, rng, repl)
    _statuses(w, rng)


def _lines(w: World, rng: np.random.Generator, repl: np.ndarray) -> None:
    m = w.n_orders
    person = w.o_person
    b2b = w.is_b2b[person]
    n_lines = np.where(b2b, 2 + rng.poisson(2.0, m), 1 + rng.poisson(0.5, m))
    n_lines = np.where(repl >= 0, 1 + rng.poisson(0.3, m), n_lines)
    n_lines = np.minimum(n_lines, 10)
    lo, ln = repeat_ranges(n_lines)
    lt = w.o_t[lo]
    cat = person_categories(w, rng, person[lo])
    prod = pick_products(w, rng, cat, lt, buyable=True)
    first_repl = (ln == 0) & (repl[lo] >= 0)
    rp = repl[lo][first_repl]
    ok = available(w, rp, lt[first_repl])
    sub = pick_products(w, rng, w.prod_cat[rp], lt[first_repl], buyable=True)
    prod[first_repl] = np.where(ok, rp, sub)
    u = rng.random(len(lo))
    qty = 1 + (u < 0.2) + (u < 0.05)
    qty = np.where(w.prod_consumable[prod], 1 + rng.poisson(0.6, len(lo)), qty)
    qty = np.where(b2b[lo], qty * rng.integers(2, 9, len(lo)), qty)
    unit = price_at(w, prod, lt)
    has_disc = rng.random(m) < w.discount_aff[person] * 0.7
    rate = np.where(has_disc, np.array([0.10, 0.15, 0.20])[rng.integers(0, 3, m)], 0.0)
    disc = round_money(qty * unit * rate[lo])
    line_total = round_money(qty * unit - disc)
    w.l_order, w.l_num, w.l_prod, w.l_qty, w.l_unit, w.l_disc = lo, ln + 1, prod, qty.astype(np.int64), unit, disc
    w.o_total = round_money(np.bincount(lo, weights=line_total, minlength=m))
    w.o_disc = round_money(np.bincount(lo, weights=disc, minlength=m))
    w.o_nlines = n_lines
    w.o_items = np.bincount(lo, weights=qty, minlength=m).astype(np.int64)
    w.l_start = np.cumsum(n_lines) - n_lines
    apparel = np.bincount(lo, weights=(w.prod_cat[prod] == V.CATEGORIES.index("apparel")), minlength=m) > 0
    w.o_apparel = apparel


def _statuses(w: World, rng: np.random.Generator) -> None:
    m = w.n_orders
    t = w.o_t
    pos = w.o_src == SRC_POS
    cancelled = ~pos & (rng.random(m) < 0.03)
    t_cancel = t + rng.integers(10 * MS_PER_MIN, 20 * MS_PER_H, m)
    t_ship = np.where(pos, t, t + rng.integers(4 * MS_PER_H, 48 * MS_PER_H, m))
    t_deliv = np.where(pos, t + 1000, t_ship + rng.integers(MS_PER_D, 4 * MS_PER_D, m))
    returned = ~cancelled & (rng.random(m) < np.where(pos, 0.02, np.where(w.o_apparel, 0.18, 0.04)))
    t_return = t_deliv + rng.integers(3 * MS_PER_D, 20 * MS_PER_D, m)
    E = w.E
    rows = [
        (np.arange(m), 0, t, np.full(m, False)),
        (np.flatnonzero(cancelled & (t_cancel <= E)), 3, t_cancel, None),
        (np.flatnonzero(~pos & ~cancelled & (t_ship <= E)), 1, t_ship, None),
        (np.flatnonzero(~cancelled & (t_deliv <= E)), 2, t_deliv, None),
        (np.flatnonzero(returned & (t_return <= E)), 4, t_return, None),
    ]
    r_order = np.concatenate([r[0] for r in rows])
    r_status = np.concatenate([np.full(len(r[0]), r[1]) for r in rows])
    r_at = np.concatenate([r[2][r[0]] for r in rows])
    delivered_known = np.isin(r_status, (2, 4))
    final_status = np.zeros(m, dtype=np.int64)
    latest = np.full(m, -1, dtype=np.int64)
    order = np.lexsort((r_at, r_order))
    r_order, r_status, r_at, delivered_known = r_order[order], r_status[order], r_at[order], delivered_known[order]
    last_row = np.ones(len(r_order), dtype=bool)
    last_row[:-1] = r_order[1:] != r_order[:-1]
    final_status[r_order[last_row]] = r_status[last_row]
    latest[r_order[last_row]] = np.flatnonzero(last_row)
    w.o_status = final_status
    w.o_cancelled = final_status == 3
    w.o_delivered_at = np.where(~cancelled & (t_deliv <= E), t_deliv, -1)
    w.r_order, w.r_status, w.r_at, w.r_delivered_known = r_order, r_status, r_at, delivered_known
    w.r_latest = latest


STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")


def order_tables(w: World) -> tuple[dict[str, pa.Table], np.ndarray]:
    """raw.orders and raw.order_lines, plus the person behind each orders row."""
    rng = w.rng("order_tables")
    m = w.n_orders
    ro, rs, ra = w.r_order, w.r_status, w.r_at
    total = w.o_total[ro].astype(np.float64)
    # broken rows: negative totals on the latest row of a few orders, missing totals
    neg_orders = rng.random(m) < 0.005
    neg = neg_orders[ro] & np.isin(np.arange(len(ro)), w.r_latest)
    total = np.where(neg, -np.abs(total) - 0.01, total)
    null_total = rng.random(len(ro)) < 0.003
    # ... and copies of a placed row whose order id got lost
    lost = np.flatnonzero((rs == 0) & (rng.random(len(ro)) < 0.006))
    idx = np.concatenate([np.arange(len(ro)), lost])
    id_null = np.concatenate([np.zeros(len(ro), bool), np.ones(len(lost), bool)])
    at = np.concatenate([ra, ra[lost] + 1000])
    total = np.concatenate([total, total[lost]])
    null_total = np.concatenate([null_total, np.zeros(len(lost), bool)])
    order = np.lexsort((idx, at))
    idx, id_null, at, total, null_total = idx[order], id_null[order], at[order], total[order], null_total[order]
    o = ro[idx]
    status = rs[idx]
    currency = np.where(rng.random(m) < 0.01, "eur", "EUR")[o]
    email_null = w.o_email_kind[o] == 0
    deliv = np.where(w.r_delivered_known[idx], w.o_delivered_at[o], -1)
    orders = pa.table({
        "order_id": take_str(w.order_ids, np.where(id_null, -1, o)),
        "customer_id": take_str(w.acc_ids, w.o_acc[o]),
        "email": str_col(w.o_email[o], mask=email_null),
        "phone": str_col(w.o_phone[o], mask=~w.o_phone_given[o]),
        "status": np.array(STATUSES)[status],
        "source": np.array(SOURCES)[w.o_src[o]],
        "store_id": take_str([s for s, _ in V.STORES], np.where(w.o_src[o] == SRC_POS, w.o_store[o], -1)),
        "currency": currency,
        "order_total": pa.array(total, mask=null_total),
        "discount_total": w.o_disc[o].astype(np.float64),
        "ordered_at": ts_col(w.o_t[o]),
        "delivered_at": ts_col(np.maximum(deliv, 0), mask=deliv < 0),
        "updated_at": ts_col(at),
    })
    nl = len(w.l_order)
    qty = w.l_qty.copy()
    bad = rng.random(nl) < 0.005
    qty[bad] = -rng.integers(0, 2, bad.sum())
    lines = pa.table({
        "order_id": w.order_ids.take(pa.array(w.l_order)),
        "line_number": w.l_num.astype(np.int64),
        "product_id": w.prod_ids.take(pa.array(w.l_prod)),
        "quantity": qty.astype(np.int64),
        "unit_price": w.l_unit.astype(np.float64),
        "discount_amount": w.l_disc.astype(np.float64),
    })
    return {"orders": orders, "order_lines": lines}, w.o_person[o]
