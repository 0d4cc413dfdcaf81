"""Sessions and behavioural events (web, app, POS), carts, and the mess a
click stream arrives with."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kairos.generator import _vocab as V
from kairos.generator._catalog import available, person_categories, pick_products, price_at
from kairos.generator._commerce import SRC_APP, SRC_POS, SRC_WEB
from kairos.generator._text import email_as_typed
from kairos.generator._util import (
    at,
    MS_PER_D,
    MS_PER_H,
    MS_PER_MIN,
    MS_PER_S,
    hex_strings,
    iso_text,
    repeat_ranges,
    take_str,
    ts_col,
    uuid_strings,
    weighted_choice,
)
from kairos.generator._world import ANON, GUEST, NEVER, POS, REG, TAB_APP, TAB_WEB, World

# session kinds
K_BROWSE, K_CART, K_PURCHASE, K_SIGNUP, K_POS = 0, 1, 2, 3, 4
# event types = index into V.EVENT_NAMES
(E_PAGE, E_PRODUCT, E_ADD, E_REMOVE, E_CHECKOUT, E_ORDER, E_SEARCH, E_WISH, E_LOGIN, E_IDENTIFY,
 E_SIGNUP, E_INSTALL, E_RETURNS) = range(13)
# mean seconds spent before each event type
_GAP_S = np.array([20, 45, 25, 10, 60, 90, 15, 10, 15, 20, 40, 5, 50], dtype=np.float64)
LOGIN_AT_CHECKOUT = 1999.0
INF_KEY = 1e9


def _choose_device(w: World, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
    m = len(person)
    u, u2, u3 = rng.random(m), rng.random(m), rng.random(m)
    tablet = w.tablet[person]
    app_n = w.app_cnt[person]
    web = w.web_start[person] + np.minimum((u3**1.6 * w.web_cnt[person]).astype(np.int64), w.web_cnt[person] - 1)
    app = w.app_start[person] + np.minimum((u3 * app_n).astype(np.int64), np.maximum(app_n - 1, 0))
    dev = np.where((app_n > 0) & (u2 < 0.55), app, web)
    return np.where((tablet >= 0) & (u < 0.2), tablet, dev)


def build_sessions(w: World) -> None:
    rng = w.rng("sessions")
    n, S, E = w.n, w.S, w.E
    ptype = w.ptype
    rate = np.where(ptype == ANON, 0.25, 0.06 + 1.5 * w.intent**2)
    pre = np.where((ptype == REG) & (w.reg_ms >= S), (rng.random(n) * 14 * MS_PER_D).astype(np.int64), 0)
    a = np.maximum(S, w.reg_ms - pre)
    churned = w.churn_ms < E
    b = np.where(ptype == ANON, np.minimum(w.active_end, E), np.where(churned, np.minimum(E, w.churn_ms + 20 * MS_PER_D), E))
    b = np.maximum(a, b)
    cnt_main = rng.poisson(rate * (b - a) / MS_PER_D)
    cnt_post = np.where(ptype == ANON, 0, rng.poisson(0.08 * rate * (E - b) / MS_PER_D))
    p_main, _ = repeat_ranges(cnt_main)
    p_post, _ = repeat_ranges(cnt_post)
    t_main = a[p_main] + (rng.random(len(p_main)) * (b - a)[p_main]).astype(np.int64)
    t_post = b[p_post] + (rng.random(len(p_post)) * (E - b)[p_post]).astype(np.int64)
    p_free = np.concatenate([p_main, p_post])
    t_free = np.concatenate([t_main, t_post])
    lo = np.concatenate([a[p_main], b[p_post]])
    hi = np.concatenate([b[p_main], np.full(len(p_post), E)])
    t_free = w.diurnal(rng, t_free, w.tz[p_free], lo, hi)
    k_free = np.where(rng.random(len(p_free)) < 0.06 + 0.25 * w.intent[p_free], K_CART, K_BROWSE)

    # fresh carts: many people left something in a cart in the last three days
    alive = w.active_end >= E
    boost = alive & (rng.random(n) < np.select([ptype == REG, ptype == GUEST], [0.05, 0.03], 0.02))
    p_boost = np.flatnonzero(boost)
    t_boost = E - rng.integers(10 * MS_PER_MIN, 80 * MS_PER_H, len(p_boost))

    # sign-ups in the window
    p_sign = np.flatnonzero(w.signup_dev >= 0)
    t_sign = w.reg_ms[p_sign] - rng.integers(30 * MS_PER_S, 5 * MS_PER_MIN, len(p_sign))

    # orders in the window: a purchase session online, a single event at the till
    in_win = (w.o_t >= S) & (w.o_t <= E)
    o_online = np.flatnonzero(in_win & (w.o_src != SRC_POS))
    o_pos = np.flatnonzero(in_win & (w.o_src == SRC_POS))

    person = np.concatenate([p_free, p_boost, p_sign, w.o_person[o_online], w.o_person[o_pos]])
    kind = np.concatenate([k_free, np.full(len(p_boost), K_CART), np.full(len(p_sign), K_SIGNUP),
                           np.full(len(o_online), K_PURCHASE), np.full(len(o_pos), K_POS)])
    t = np.concatenate([t_free, t_boost, t_sign, w.o_t[o_online], w.o_t[o_pos]])
    order = np.concatenate([np.full(len(p_free) + len(p_boost) + len(p_sign), -1), o_online, o_pos])
    ns = len(person)

    dev = _choose_device(w, rng, person)
    sg = kind == K_SIGNUP
    dev[sg] = w.signup_dev[person[sg]]
    pu = np.flatnonzero(kind == K_PURCHASE)
    src = w.o_src[order[pu]]
    pp = person[pu]
    u = rng.random(len(pu))
    app_dev = w.app_start[pp] + (u * w.app_cnt[pp]).astype(np.int64)
    web_dev = w.web_start[pp] + (u * w.web_cnt[pp]).astype(np.int64)
    tab = w.tablet[pp]
    tab_kind = np.where(tab >= 0, w.dev_kind[np.maximum(tab, 0)], -1)
    use_tab = (rng.random(len(pu)) < 0.15) & (((src == SRC_WEB) & (tab_kind == TAB_WEB)) | ((src == SRC_APP) & (tab_kind == TAB_APP)))
    dev[pu] = np.where(use_tab, tab, np.where((src == SRC_APP) & (w.app_cnt[pp] > 0), app_dev, web_dev))
    po = kind == K_POS
    dev[po] = w.o_terminal[order[po]]
    dkind = w.dev_kind[dev]
    is_tab = (dkind == TAB_WEB) | (dkind == TAB_APP)

    # who could be logged in
    acc = np.where(is_tab | (kind == K_SIGNUP), w.primary_acc[person], w.dev_acc[dev])
    acc = np.where((kind == K_PURCHASE) | (kind == K_POS), at(w.o_acc, order, -1), acc)
    can = (acc >= 0) & (t >= at(w.acc_reg, acc, NEVER))
    acc = np.where(can | (kind == K_SIGNUP), acc, -1)
    is_app = w.dev_is_app[dev]
    persistent = can & ~is_tab & (kind != K_SIGNUP) & (t > w.dev_first_login[dev]) & (is_app | (rng.random(ns) < 0.5))
    persistent = np.where(kind == K_POS, acc >= 0, persistent)

    # the first session at or after a device's first login carries the login
    srt = np.lexsort((t, dev))
    flagged = srt[(t[srt] >= w.dev_first_login[dev[srt]]) & ~is_tab[srt] & (kind[srt] != K_POS)]
    _, first_pos = np.unique(dev[flagged], return_index=True)
    first_after = np.zeros(ns, dtype=bool)
    first_after[flagged[first_pos]] = True
    # the first session of an app installation in the window registers its push token
    app_srt = srt[is_app[srt]]
    _, first_app = np.unique(dev[app_srt], return_index=True)
    install = np.zeros(ns, dtype=bool)
    install[app_srt[first_app]] = True
    install &= w.dev_install[dev]

    login = can & ~persistent & (kind != K_SIGNUP) & (kind != K_POS) & (
        first_after | (kind == K_PURCHASE) | (is_tab & (rng.random(ns) < 0.4)) | (rng.random(ns) < 0.12)
    )
    guest_checkout = (kind == K_PURCHASE) & (acc < 0)
    ident_browse = (kind == K_BROWSE) & ~login & ~persistent & (
        ((w.ptype[person] == GUEST) & (rng.random(ns) < 0.05))
        | ((w.ptype[person] == REG) & (acc < 0) & (rng.random(ns) < 0.02))
    )

    # how many events of each kind
    intent = w.intent[person]
    n_browse = np.select(
        [kind == K_BROWSE, kind == K_CART, kind == K_PURCHASE, kind == K_SIGNUP],
        [1 + rng.poisson(2.0 + 5 * intent), 1 + rng.poisson(2 + 3 * intent), 1 + rng.poisson(2.5, ns), 1 + rng.poisson(2.0, ns)],
        0,
    )
    extra = (kind == K_PURCHASE) & (rng.random(ns) < 0.08)
    n_lines = np.where(kind == K_PURCHASE, at(w.o_nlines, order, 0), 0)
    n_add = np.select([kind == K_CART, kind == K_PURCHASE], [np.minimum(1 + rng.poisson(0.5, ns), 5), n_lines + extra], 0)
    n_remove = np.where(kind == K_CART, rng.random(ns) < 0.2, extra).astype(np.int64)
    n_checkout = np.where(kind == K_CART, rng.random(ns) < 0.3, kind == K_PURCHASE).astype(np.int64)

    # carts (abandoned or not) and split purchases (cart filled earlier, checked out later)
    has_cart = (kind == K_CART) | (kind == K_PURCHASE)
    cart = np.full(ns, -1, dtype=np.int64)
    cart[has_cart] = np.arange(has_cart.sum())
    split_delta = np.where(
        (kind == K_PURCHASE) & (rng.random(ns) < 0.2), rng.integers(MS_PER_H, 5 * MS_PER_D, ns), 0
    )
    split_delta = np.where(t - split_delta < S, 0, split_delta)

    w.s_person, w.s_kind, w.s_t, w.s_order, w.s_dev, w.s_acc = person, kind, t, order, dev, acc
    w.s_persistent, w.s_login, w.s_guest, w.s_ident_browse, w.s_install = persistent, login, guest_checkout, ident_browse, install
    w.s_n_browse, w.s_n_add, w.s_n_remove, w.s_n_checkout = n_browse, n_add, n_remove, n_checkout
    w.s_extra, w.s_cart, w.s_split = extra, cart, split_delta
    w.n_sessions = ns
    w.n_carts = int(has_cart.sum())


def _insert_key(rng: np.random.Generator, n_browse: np.ndarray) -> np.ndarray:
    """A key between two browse events (after the landing page)."""
    j = 1 + (rng.random(len(n_browse)) * np.maximum(n_browse, 1)).astype(np.int64)
    return 10.0 + j - 0.5


def build_events(w: World) -> None:
    rng = w.rng("events")
    ns = w.n_sessions
    kind, nb = w.s_kind, w.s_n_browse

    blocks_s, blocks_k, blocks_e, blocks_i = [], [], [], []

    def block(sess: np.ndarray, key: np.ndarray, etype: np.ndarray | int, idx: np.ndarray | int = 0) -> None:
        m = len(sess)
        blocks_s.append(sess)
        blocks_k.append(np.broadcast_to(np.asarray(key, dtype=np.float64), (m,)))
        blocks_e.append(np.broadcast_to(np.asarray(etype, dtype=np.int64), (m,)))
        blocks_i.append(np.broadcast_to(np.asarray(idx, dtype=np.int64), (m,)))

    s = np.flatnonzero(w.s_install)
    block(s, 0.0, E_INSTALL)
    bs, bi = repeat_ranges(nb)
    bt = weighted_choice(rng, [0.22, 0.50, 0.14, 0.07, 0.0], len(bs))
    bt = np.array([E_PAGE, E_PRODUCT, E_SEARCH, E_WISH, E_RETURNS])[bt]
    bt = np.where(rng.random(len(bs)) < 0.05 * w.intent[w.s_person[bs]], E_RETURNS, bt)
    bt = np.where(bi == 0, E_PAGE, bt)
    block(bs, 10.0 + bi, bt, bi)
    s = np.flatnonzero(kind == K_SIGNUP)
    signup_key = np.full(ns, INF_KEY)
    signup_key[s] = _insert_key(rng, nb[s])
    block(s, signup_key[s], E_SIGNUP)
    s = np.flatnonzero(w.s_login)
    login_key = np.full(ns, INF_KEY)
    at_checkout = (kind[s] == K_PURCHASE) & (rng.random(len(s)) < 0.6)
    login_key[s] = np.where(at_checkout, LOGIN_AT_CHECKOUT, _insert_key(rng, nb[s]))
    block(s, login_key[s], E_LOGIN)
    login_key = np.minimum(login_key, signup_key)
    s = np.flatnonzero(w.s_guest)
    block(s, 2100.0, E_IDENTIFY)
    s = np.flatnonzero(w.s_ident_browse)
    block(s, _insert_key(rng, nb[s]), E_IDENTIFY)
    as_, ai = repeat_ranges(w.s_n_add)
    block(as_, 1000.0 + ai, E_ADD, ai)
    s = np.flatnonzero(w.s_n_remove > 0)
    block(s, 1500.0, E_REMOVE)
    s = np.flatnonzero(w.s_n_checkout > 0)
    block(s, 2000.0, E_CHECKOUT)
    s = np.flatnonzero((kind == K_PURCHASE) | (kind == K_POS))
    block(s, 3000.0, E_ORDER)

    ev_s = np.concatenate(blocks_s)
    ev_k = np.concatenate(blocks_k)
    ev_e = np.concatenate(blocks_e)
    ev_i = np.concatenate(blocks_i)
    order = np.lexsort((ev_k, ev_s))
    ev_s, ev_k, ev_e, ev_i = ev_s[order], ev_k[order], ev_e[order], ev_i[order]
    m = len(ev_s)

    # timing: gaps within the session; purchase sessions end exactly at the order time
    first = np.ones(m, dtype=bool)
    first[1:] = ev_s[1:] != ev_s[:-1]
    gap = (rng.exponential(1.0, m) * _GAP_S[ev_e] * MS_PER_S).astype(np.int64) + 500
    gap[first] = 0
    cs = np.cumsum(gap)
    starts = np.flatnonzero(first)
    sess_first = np.repeat(starts, np.diff(np.r_[starts, m]))
    off = cs - cs[sess_first]
    session_start = w.s_t.copy()
    anchored = (kind == K_PURCHASE) | (kind == K_POS)
    last_idx = np.append(starts[1:], m)[: len(starts)] - 1
    sess_of_last = ev_s[last_idx]
    sel = anchored[sess_of_last]
    session_start[sess_of_last[sel]] = w.s_t[sess_of_last[sel]] - off[last_idx[sel]]
    et = session_start[ev_s] + off
    early = (w.s_split[ev_s] > 0) & (ev_k < LOGIN_AT_CHECKOUT)
    et = np.where(early, et - w.s_split[ev_s], et)

    # who the event belongs to
    acc = w.s_acc[ev_s]
    logged = (acc >= 0) & (w.s_persistent[ev_s] | (ev_k >= login_key[ev_s]))
    ev_acc = np.where(logged, acc, -1)

    # products: a few per session; purchases use the order's lines
    person = w.s_person[ev_s]
    slots = np.zeros((ns, 4), dtype=np.int64)
    for j in range(4):
        cat = person_categories(w, rng, w.s_person)
        slots[:, j] = pick_products(w, rng, cat, w.s_t, buyable=False)
    pu = np.flatnonzero(kind == K_PURCHASE)
    o = w.s_order[pu]
    for j in range(4):
        has = w.o_nlines[o] > j
        slots[pu[has], j] = w.l_prod[w.l_start[o[has]] + j]
    pick_slot = weighted_choice(rng, [0.45, 0.30, 0.15, 0.10], m)
    prod = np.full(m, -1, dtype=np.int64)
    viewed = (ev_e == E_PRODUCT) | (ev_e == E_WISH)
    prod[viewed] = slots[ev_s[viewed], pick_slot[viewed]]
    adds = ev_e == E_ADD
    is_line = adds & (kind[ev_s] == K_PURCHASE) & (ev_i < at(w.o_nlines, w.s_order[ev_s], 0))
    line_idx = at(w.l_start, w.s_order[ev_s], 0) + ev_i
    prod[is_line] = w.l_prod[line_idx[is_line]]
    other_add = adds & ~is_line
    cand = slots[ev_s[other_add], ev_i[other_add] % 4]
    ok = available(w, cand, et[other_add])
    sub = pick_products(w, rng, w.prod_cat[cand], et[other_add], buyable=True)
    prod[other_add] = np.where(ok, cand, sub)
    qty = np.full(m, -1, dtype=np.int64)
    u = rng.random(m)
    qty[adds] = (1 + (u < 0.2) + (u < 0.05))[adds]
    qty[is_line] = w.l_qty[line_idx[is_line]]
    # a removal takes one unit of the first (cart) or the extra (purchase) product out again
    rem = np.flatnonzero(ev_e == E_REMOVE)
    add_pos = np.flatnonzero(adds)
    add_sess = ev_s[add_pos]
    first_add = add_pos[np.searchsorted(add_sess, ev_s[rem], side="left")]
    last_add = add_pos[np.searchsorted(add_sess, ev_s[rem], side="right") - 1]
    prod[rem] = np.where(kind[ev_s[rem]] == K_PURCHASE, prod[last_add], prod[first_add])
    qty[rem] = 1
    price = np.full(m, np.nan)
    has_prod = prod >= 0
    price[has_prod] = price_at(w, prod[has_prod], et[has_prod])

    w.ev_s, w.ev_k, w.ev_e, w.ev_t, w.ev_acc = ev_s, ev_k, ev_e, et, ev_acc
    w.ev_prod, w.ev_qty, w.ev_price, w.ev_person = prod, qty, price, person
    _cart_truth(w)


def _cart_truth(w: World) -> None:
    """Per cart: owner, last activity, items left, whether an order completed it."""
    sel = (w.s_cart[w.ev_s] >= 0) & (w.ev_t >= w.S) & (w.ev_t <= w.E)
    c = w.s_cart[w.ev_s[sel]]
    e = w.ev_e[sel]
    t = w.ev_t[sel]
    nc = w.n_carts
    activity = np.isin(e, (E_ADD, E_REMOVE, E_CHECKOUT))
    last = np.full(nc, -1, dtype=np.int64)
    np.maximum.at(last, c[activity], t[activity])
    created = np.full(nc, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(created, c[activity], t[activity])
    sign = np.where(e == E_ADD, 1, np.where(e == E_REMOVE, -1, 0))
    q = np.maximum(w.ev_qty[sel], 0)
    items = np.bincount(c, weights=sign * q, minlength=nc).astype(np.int64)
    value = np.bincount(c, weights=np.where(sign != 0, sign * q * np.nan_to_num(w.ev_price[sel]), 0), minlength=nc)
    cart_sess = np.flatnonzero(w.s_cart >= 0)
    order = w.s_order[cart_sess]
    completed = order >= 0
    w.c_session = cart_sess
    w.c_person = w.s_person[cart_sess]
    w.c_last, w.c_created, w.c_items, w.c_value = last, created, items, np.round(value, 2)
    w.c_order = order
    w.c_abandoned = ~completed & (items > 0)
    w.c_valid = last >= 0
    w.c_source = w.dev_kind[w.s_dev[cart_sess]]
    recent = w.c_abandoned & w.c_valid & (w.c_last >= w.E - 72 * MS_PER_H) & (w.c_last <= w.E - MS_PER_H)
    w.recent_abandoners = np.unique(w.c_person[recent])


def event_table(w: World) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """raw.events, plus the person behind each row (for truth.identifiers)."""
    rng = w.rng("event_table")
    keep = (w.ev_t >= w.S) & (w.ev_t <= w.E)
    idx = np.flatnonzero(keep)
    m = len(idx)
    s = w.ev_s[idx]
    e = w.ev_e[idx]
    t = w.ev_t[idx]
    dev = w.s_dev[s]
    dkind = w.dev_kind[dev]
    is_app = w.dev_is_app[dev]
    source = np.where(dkind == POS, 2, np.where(is_app, 1, 0))
    person = w.ev_person[idx]

    # arrival: seconds normally; app queues, POS batches and the odd web retry arrive late
    lat = np.select(
        [source == 0, source == 1],
        [rng.integers(200, 3000, m), rng.integers(500, 10_000, m)],
        rng.integers(1000, 60_000, m),
    )
    late_p = np.select([source == 0, source == 1], [0.005, 0.04], 0.01)
    late = rng.random(m) < late_p
    late_by = np.where(source == 1, rng.exponential(6 * MS_PER_H, m), rng.uniform(MS_PER_H, 48 * MS_PER_H, m)).astype(np.int64)
    received = t + lat + np.where(late, late_by, 0)
    landed = received <= w.E
    idx, s, e, t, dev, dkind, is_app, source, person, received = (
        a[landed] for a in (idx, s, e, t, dev, dkind, is_app, source, person, received)
    )
    m = len(idx)

    # ids
    event_id = uuid_strings(rng, m)
    sess_ids = uuid_strings(rng, w.n_sessions)
    early_ids = uuid_strings(rng, w.n_sessions)
    early = (w.s_split[s] > 0) & (w.ev_k[idx] < LOGIN_AT_CHECKOUT)
    sess_idx = np.where(early, w.n_sessions + s, s)
    session_id = take_str(pa.concat_arrays([sess_ids, early_ids]), np.where(source == 2, -1, sess_idx))
    cart_ids = hex_strings(rng, max(w.n_carts, 1), 20, prefix="crt_")
    w.cart_ids = cart_ids
    cart_of = w.s_cart[s]
    cart_events = np.isin(e, (E_ADD, E_REMOVE, E_CHECKOUT, E_ORDER))
    cart_idx = np.where(cart_events & (cart_of >= 0), cart_of, -1)
    acc = w.ev_acc[idx]
    order = np.where(e == E_ORDER, w.s_order[s], -1)

    # emails typed on signup / login / identify
    email_rows = np.isin(e, (E_SIGNUP, E_LOGIN, E_IDENTIFY))
    er = np.flatnonzero(email_rows)
    sess_acc = w.s_acc[s[er]]
    clean = np.where(sess_acc >= 0, at(w.acc_email, sess_acc, ''), w.email1[person[er]])
    typed = email_as_typed(rng, clean)
    ident = e[er] == E_IDENTIFY
    purchase_ident = ident & (w.s_kind[s[er]] == K_PURCHASE)
    typed = np.where(purchase_ident, at(w.o_email, w.s_order[s[er]], ''), typed)
    email_idx = np.full(m, -1, dtype=np.int64)
    email_idx[er] = np.arange(len(er))
    # an identify at a guest checkout that gave no address sends none
    email_idx[er[purchase_ident & (at(w.o_email_kind, w.s_order[s[er]], 0) == 0)]] = -1
    email = take_str(typed.astype(object), email_idx)

    # page urls: one shared vocabulary, an index per event
    P = w.n_prod
    terms = [t_ for c in V.CATEGORIES for t_ in V.SEARCH_TERMS[c]]
    pid = w.prod_ids.to_pylist()
    vocab = (
        [V.SHOP_URL + p for p in V.WEB_PAGES]
        + list(V.APP_SCREENS)
        + [f"{V.SHOP_URL}/p/{x}" for x in pid]
        + [f"app://product/{x}" for x in pid]
        + [f"{V.SHOP_URL}/search?q={x.replace(' ', '+')}" for x in terms]
        + [f"app://search?q={x.replace(' ', '+')}" for x in terms]
        + [V.SHOP_URL + p for p in ("/cart", "/checkout", "/checkout/confirmation", "/login", "/register",
                                    "/checkout/guest", "/newsletter", "/help/returns")]
        + [f"app://{p}" for p in ("cart", "checkout", "checkout/confirmation", "login", "register",
                                  "checkout/guest", "newsletter", "help/returns", "launch")]
    )
    o_web, o_app = 0, len(V.WEB_PAGES)
    o_pw = o_app + len(V.APP_SCREENS)
    o_pa = o_pw + P
    o_sw = o_pa + P
    o_sa = o_sw + len(terms)
    o_fw = o_sa + len(terms)
    o_fa = o_fw + 8
    app_ = is_app.astype(np.int64)
    prod = w.ev_prod[idx]
    u = rng.random(m)
    page = np.where(app_ == 1, o_app + (u * len(V.APP_SCREENS)).astype(np.int64), o_web + (u * len(V.WEB_PAGES)).astype(np.int64))
    term = (rng.random(m) * len(terms)).astype(np.int64)
    fixed = {E_ADD: 0, E_REMOVE: 0, E_CHECKOUT: 1, E_ORDER: 2, E_LOGIN: 3, E_SIGNUP: 4, E_RETURNS: 7, E_INSTALL: 8}
    url = page.copy()
    for et_, k in fixed.items():
        rows = e == et_
        url[rows] = np.where(app_[rows] == 1, o_fa + min(k, 8), o_fw + min(k, 7))
    ident_rows = e == E_IDENTIFY
    url[ident_rows] = np.where(app_[ident_rows] == 1, o_fa, o_fw) + np.where(w.s_kind[s[ident_rows]] == K_PURCHASE, 5, 6)
    pv = (e == E_PRODUCT) | (e == E_WISH)
    url[pv] = np.where(app_[pv] == 1, o_pa, o_pw) + prod[pv]
    se = e == E_SEARCH
    url[se] = np.where(app_[se] == 1, o_sa, o_sw) + term[se]
    url = np.where(source == 2, -1, url)
    url = np.where((e == E_INSTALL) & (app_ == 0), -1, url)

    names = np.where(w.dev_legacy[dev], e + len(V.EVENT_NAMES), e)
    name_vocab = list(V.EVENT_NAMES) + [V.LEGACY_EVENT_NAMES[x] for x in V.EVENT_NAMES]

    # event_ts as the client sent it: web ISO with ms and Z, app local time with offset, POS plain UTC
    ts_parts = []
    order_fmt = np.concatenate([np.flatnonzero(source == 0), np.flatnonzero(source == 1), np.flatnonzero(source == 2)])
    ts_parts.append(iso_text(t[source == 0], "ms_z"))
    tz = w.tz[person[source == 1]]
    ts_parts.append(iso_text(t[source == 1], "off", w.tz_offset(tz, t[source == 1])))
    ts_parts.append(iso_text(t[source == 2], "space"))
    inv = np.empty(m, dtype=np.int64)
    inv[order_fmt] = np.arange(m)
    event_ts = pa.concat_arrays(ts_parts).take(pa.array(inv))

    cols = {
        "event_id": event_id,
        "event_name": take_str(name_vocab, names),
        "source": take_str(["web", "app", "pos"], source),
        "anonymous_id": w.dev_ids.take(pa.array(dev)),
        "customer_id": take_str(w.acc_ids, acc),
        "email": email,
        "session_id": session_id,
        "cart_id": take_str(cart_ids, cart_idx),
        "product_id": take_str(w.prod_ids, prod),
        "quantity": pa.array(w.ev_qty[idx], mask=w.ev_qty[idx] < 0),
        "price": pa.array(w.ev_price[idx], mask=np.isnan(w.ev_price[idx])),
        "order_id": take_str(w.order_ids, order),
        "push_token": take_str(w.dev_token, np.where(e == E_INSTALL, dev, -1)),
        "page_url": take_str(vocab, url),
        "event_ts": event_ts,
        "received_at": received,
    }
    meta = {"person": person, "dev": dev, "acc": acc, "e": e, "t": t}
    return _mess_up_events(w, rng, cols, meta)


def _where(mask: np.ndarray, value, arr: pa.Array) -> pa.Array:
    """arr with the rows under mask replaced by value (a scalar, None for null, or an array)."""
    if not mask.any():
        return arr
    if value is None:
        value = pa.scalar(None, type=arr.type)
    elif not isinstance(value, (pa.Array, pa.ChunkedArray)):
        value = pa.scalar(value, type=arr.type)
    return pc.if_else(pa.array(mask), value, arr)


def _mess_up_events(w: World, rng: np.random.Generator, cols: dict, meta: dict) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Duplicates, test events, broken timestamps, lost ids and identities; rows in arrival order."""
    m = len(meta["person"])
    e = meta["e"]
    received = cols["received_at"]
    protected = np.isin(e, (E_ORDER, E_SIGNUP, E_LOGIN, E_IDENTIFY, E_INSTALL))

    # the same event delivered twice (SDK retries)
    dup = np.flatnonzero(rng.random(m) < 0.015)
    dup_received = received[dup] + rng.integers(MS_PER_S, 30 * MS_PER_MIN, len(dup))
    dup = dup[dup_received <= w.E]
    dup_received = dup_received[dup_received <= w.E]
    # events no client should send (context copied from a real event, unknown name)
    test = np.flatnonzero(rng.random(m) < 0.008)
    rows = np.concatenate([np.arange(m), dup, test])
    kind = np.concatenate([np.zeros(m, np.int8), np.ones(len(dup), np.int8), np.full(len(test), 2, np.int8)])
    rec = np.concatenate([received, dup_received, received[test]])
    order = np.argsort(rec, kind="stable")
    rows, kind, rec = rows[order], kind[order], rec[order]
    take = pa.array(rows)
    out = {k: v.take(take) for k, v in cols.items() if k != "received_at"}
    n_all = len(rows)

    is_test = kind == 2
    unknown = take_str(V.UNKNOWN_EVENT_NAMES, rng.integers(0, len(V.UNKNOWN_EVENT_NAMES), n_all))
    out["event_name"] = _where(is_test, unknown, out["event_name"])
    if is_test.any():
        fresh = np.arange(n_all)
        fresh[is_test] = n_all + np.arange(int(is_test.sum()))
        out["event_id"] = pa.concat_arrays([out["event_id"], uuid_strings(rng, int(is_test.sum()))]).take(pa.array(fresh))
    for col in ("cart_id", "product_id", "order_id", "email", "push_token", "quantity", "price"):
        out[col] = _where(is_test, None, out[col])

    # malformed rows (never the order, login or sign-up events the scenarios rest on)
    prot = protected[rows] | (kind == 1)
    u = rng.random(n_all)
    bad_ts = ~prot & (u < 0.007)
    no_id = ~prot & (u >= 0.007) & (u < 0.012)
    no_who = ~prot & (u >= 0.012) & (u < 0.017)
    blank = rng.random(n_all) < 0.3
    garbage = take_str(V.MALFORMED_TIMESTAMPS, rng.integers(0, len(V.MALFORMED_TIMESTAMPS), n_all))
    empty = rng.random(n_all) < 0.1
    out["event_ts"] = _where(bad_ts & empty, "", _where(bad_ts & ~empty, garbage, out["event_ts"]))
    out["event_id"] = _where(no_id & blank, "", _where(no_id & ~blank, None, out["event_id"]))
    out["anonymous_id"] = _where(no_who & blank, "", _where(no_who & ~blank, None, out["anonymous_id"]))
    out["customer_id"] = _where(no_who, None, out["customer_id"])
    out["received_at"] = ts_col(rec)
    table = pa.table(out)
    meta_rows = {k: v[rows] for k, v in meta.items()}
    meta_rows["no_who"] = no_who
    return table, meta_rows
