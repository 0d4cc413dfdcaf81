"""CRM customer rows, the consent log and the contact history of the sending systems."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from kairos.generator import _vocab as V
from kairos.generator._events import E_ADD, E_CHECKOUT, E_REMOVE
from kairos.generator._text import email_as_typed, email_invalid, phone_as_typed
from kairos.generator._util import (
    MS_PER_D,
    MS_PER_H,
    MS_PER_MIN,
    MS_PER_S,
    date_text,
    hex_strings,
    padded_ids,
    repeat_ranges,
    str_col,
    take_str,
    ts_col,
)
from kairos.generator._world import NEVER, World

CONSENT_CHANNELS = ("email", "sms", "push", "ads")
MSG_CHANNELS = ("email", "sms", "push")
EVENT_TYPES = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained")
T_SENT, T_DELIVERED, T_OPENED, T_CLICKED, T_BOUNCED, T_UNSUB, T_COMPLAINED = range(7)


# -- CRM ------------------------------------------------------------------------


def crm_table(w: World) -> tuple[pa.Table, dict[str, np.ndarray]]:
    rng = w.rng("crm")
    A = w.n_acc
    w.acc_bad_email = rng.random(A) < 0.012
    n_upd = np.where(rng.random(A) < 0.3, 1 + rng.poisson(0.6, A), 0)
    acc, ver = repeat_ranges(1 + n_upd)
    r = len(acc)
    person = w.acc_person[acc]
    reg = w.acc_reg[acc]
    updated = np.where(ver == 0, reg + rng.integers(MS_PER_S, MS_PER_H, r), reg + (rng.random(r) * (w.E - reg)).astype(np.int64))
    updated = np.minimum(updated, w.E - MS_PER_S)

    clean = w.acc_email[acc]
    typed = email_as_typed(rng, clean)
    typed = np.where(w.acc_bad_email[acc], email_invalid(rng, clean), typed)
    phone = phone_as_typed(w, rng, person, invalid=0.01)
    no_phone = ~w.has_phone[person]

    # a few people moved (within the country) in a later version
    city = w.city[person].copy()
    moved = (ver > 0) & (rng.random(r) < 0.15)
    city_country = np.array([V.COUNTRIES.index(c[0]) for c in V.CITIES])
    for ci in range(len(V.COUNTRIES)):
        rows = np.flatnonzero(moved & (w.country[person] == ci))
        options = np.flatnonzero(city_country == ci)
        city[rows] = options[rng.integers(0, len(options), len(rows))]
    tz_names = np.array([c[2] for c in V.CITIES])[city]

    bday = date_text(w.birthday_days[person])
    no_bday = (rng.random(A) < 0.04)[acc]
    bad_bday = rng.random(r) < 0.01
    y, mo, d = np.strings.slice(bday, 0, 4), np.strings.slice(bday, 5, 7), np.strings.slice(bday, 8, 10)
    add = np.strings.add
    variants = [
        add(add(add(add(d, "."), mo), "."), y),
        add(add(y, "-02-"), np.where(d < "29", "30", "31")),
        np.full(r, "unknown"),
        add(add(add(add(np.strings.slice(y, 2, 4), "-"), mo), "-"), d),
        add(add(add(add(y, "/"), mo), "/"), d),
        np.full(r, "0000-00-00"),
    ]
    pick = rng.integers(0, len(variants), r)
    broken = np.select([pick == k for k in range(len(variants))], variants, "")
    bday = np.where(bad_bday, broken, bday)

    # rows that lost their customer id on the way
    lost = np.flatnonzero(rng.random(r) < 0.008)
    rows = np.concatenate([np.arange(r), lost])
    lost_kind = np.concatenate([np.full(r, -1), rng.integers(0, 5, len(lost))])
    upd = np.concatenate([updated, updated[lost] + MS_PER_S])
    order = np.lexsort((rows, upd))
    rows, lost_kind, upd = rows[order], lost_kind[order], upd[order]
    a = acc[rows]
    p = person[rows]
    cid = take_str(w.acc_ids, np.where(lost_kind >= 3, -1, a))
    cid = pa.array(
        np.where(lost_kind == 0, "", np.where(lost_kind == 1, "  ", cid.to_numpy(zero_copy_only=False).astype(object))),
        type=pa.string(), mask=(lost_kind >= 3),
    )
    table = pa.table({
        "customer_id": cid,
        "email": str_col(typed[rows]),
        "phone": str_col(phone[rows], mask=no_phone[rows]),
        "first_name": w.first_names[w.first_idx[p]],
        "last_name": w.last_names[w.last_idx[p]],
        "birthday": str_col(bday[rows], mask=no_bday[rows] & ~bad_bday[rows]),
        "city": np.array([c[1] for c in V.CITIES])[city[rows]],
        "country_code": np.array(V.COUNTRIES)[w.country[p]],
        "time_zone": tz_names[rows],
        "acquisition_source": np.array(w.acq_sources)[w.acc_acq[a]],
        "registered_at": ts_col(w.acc_reg[a]),
        "updated_at": ts_col(upd),
    })
    return table, {"person": p, "acc": a}


# -- consents ---------------------------------------------------------------------


def build_consents(w: World) -> None:
    """Per account and channel: granted at, withdrawn at, granted again at (NEVER when not)."""
    rng = w.rng("consents")
    A = w.n_acc
    person = w.acc_person
    pref = w.pref[person]
    app = w.has_app[person]
    E = w.E
    w.cons_g = np.full((4, A), NEVER, dtype=np.int64)
    w.cons_w = np.full((4, A), NEVER, dtype=np.int64)
    w.cons_r = np.full((4, A), NEVER, dtype=np.int64)
    w.cons_src_g = np.zeros((4, A), dtype=np.int64)
    base = np.array([0.62, 0.22, 0.55, 0.45])
    sources = ("signup_form", "checkout", "preference_center", "app", "store")
    w.consent_sources = sources
    for c in range(4):
        p = base[c] + np.where(pref == c, 0.3, 0.0)
        if c == 1:
            p = np.where(w.has_phone[person], p, 0.0)
        if c == 2:
            p = np.where(app, p, 0.0)
        grant = rng.random(A) < p
        at_signup = rng.random(A) < 0.7
        g = np.where(at_signup, w.acc_reg + rng.integers(MS_PER_S, 5 * MS_PER_MIN, A),
                     w.acc_reg + (rng.exponential(60.0, A) * MS_PER_D).astype(np.int64))
        grant &= g <= E
        wd = grant & (rng.random(A) < 0.15)
        wt = g + (rng.exponential(150.0, A) * MS_PER_D).astype(np.int64)
        wd &= wt <= E
        rg = wd & (rng.random(A) < 0.25)
        rt = wt + (rng.exponential(60.0, A) * MS_PER_D).astype(np.int64)
        rg &= rt <= E
        w.cons_g[c] = np.where(grant, g, NEVER)
        w.cons_w[c] = np.where(wd, wt, NEVER)
        w.cons_r[c] = np.where(rg, rt, NEVER)
        src = np.where(at_signup, np.where(w.acc_acq == 5, 4, np.where(app & (rng.random(A) < 0.3), 3, 0)),
                       np.where(rng.random(A) < 0.5, 1, 2))
        if c == 2:
            src = np.full(A, 3)
        w.cons_src_g[c] = src
    # some withdrawals in the window happen through the channel itself (unsubscribe link,
    # STOP reply, notification settings); a fifth of those never reach the CRM
    in_win = (w.cons_w >= w.S) & (w.cons_w <= E)
    in_win[3] = False
    w.cons_via_channel = in_win & (rng.random((4, A)) < 0.5)
    w.cons_unsynced = w.cons_via_channel & (rng.random((4, A)) < 0.2)
    w.cons_complaint = w.cons_via_channel & (rng.random((4, A)) < 0.08)
    w.cons_complaint[1:] = False


def consented(w: World, channel: int, acc: np.ndarray, t: np.ndarray) -> np.ndarray:
    g, wd, r = w.cons_g[channel][acc], w.cons_w[channel][acc], w.cons_r[channel][acc]
    return ((g <= t) & (t < wd)) | (r <= t)


def consent_table(w: World) -> pa.Table:
    rng = w.rng("consent_table")
    accs, chans, stats, srcs, ats = [], [], [], [], []
    for c in range(4):
        for arr, status, src in (
            (w.cons_g[c], 0, w.cons_src_g[c]),
            (np.where(w.cons_unsynced[c], NEVER, w.cons_w[c]), 1, np.where(c == 2, 3, 2)),
            (w.cons_r[c], 0, np.full(w.n_acc, 2)),
        ):
            rows = np.flatnonzero(arr < NEVER)
            accs.append(rows)
            chans.append(np.full(len(rows), c))
            stats.append(np.full(len(rows), status))
            srcs.append(np.broadcast_to(src, (w.n_acc,))[rows])
            ats.append(arr[rows])
    acc = np.concatenate(accs)
    chan = np.concatenate(chans)
    status = np.concatenate(stats)
    src = np.concatenate(srcs)
    at = np.concatenate(ats)
    order = np.lexsort((chan, acc, at))
    acc, chan, status, src, at = acc[order], chan[order], status[order], src[order], at[order]
    ids = np.arange(1, len(acc) + 1)
    # a few records exported twice
    dup = np.flatnonzero(rng.random(len(acc)) < 0.005)
    idx = np.sort(np.concatenate([np.arange(len(acc)), dup]), kind="stable")
    return pa.table({
        "consent_id": padded_ids("CS", ids[idx], 8),
        "customer_id": w.acc_ids.take(pa.array(acc[idx])),
        "channel": np.array(CONSENT_CHANNELS)[chan[idx]],
        "status": np.array(["granted", "withdrawn"])[status[idx]],
        "source": np.array(w.consent_sources)[src[idx]],
        "recorded_at": ts_col(at[idx]),
    })


# -- contact history ------------------------------------------------------------


def _weekly(start: int, end: int, first_back_ms: int, step_ms: int) -> list[int]:
    out, t = [], end - first_back_ms
    while t >= start:
        out.append(t)
        t -= step_ms
    return sorted(out)


def contact_history_table(w: World) -> tuple[pa.Table, np.ndarray]:
    rng = w.rng("contact_history")
    S, E = w.S, w.E
    A = w.n_acc
    all_acc = np.arange(A)
    m_acc, m_chan, m_t, m_camp = [], [], [], []
    campaigns: list[str] = []

    def send(acc: np.ndarray, channel: int, t: np.ndarray, campaign: str | np.ndarray) -> None:
        acc = np.asarray(acc, dtype=np.int64)
        m_acc.append(acc)
        m_chan.append(np.full(len(acc), channel))
        m_t.append(np.broadcast_to(np.asarray(t, dtype=np.int64), (len(acc),)).copy())
        if isinstance(campaign, str):
            if campaign not in campaigns:
                campaigns.append(campaign)
            m_camp.append(np.full(len(acc), campaigns.index(campaign)))
        else:
            m_camp.append(campaign)

    def day(ms: int) -> str:
        return str(np.datetime64(int(ms), "ms").astype("datetime64[D]")).replace("-", "")

    # weekly newsletter to everybody with email consent
    for T in _weekly(S, E, int(3.5 * MS_PER_D), 7 * MS_PER_D):
        t = T + rng.integers(0, 2 * MS_PER_H, A)
        ok = consented(w, 0, all_acc, t) & (w.acc_reg <= t)
        send(all_acc[ok], 0, t[ok], f"newsletter_{day(T)}")
    # a flash sale in the last day, to a fifth of the list and most people with a fresh cart
    T = E - int(rng.uniform(2, 20) * MS_PER_H)
    t = T + rng.integers(0, MS_PER_H, A)
    fresh = np.isin(w.acc_person, w.recent_abandoners)
    pick = rng.random(A) < np.where(fresh, 0.6, 0.2)
    ok = pick & consented(w, 0, all_acc, t) & (w.acc_reg <= t) & (t <= E)
    send(all_acc[ok], 0, t[ok], f"flash_sale_{day(T)}")
    # monthly SMS promo, weekly push
    for T in _weekly(S, E, 10 * MS_PER_D, 30 * MS_PER_D):
        t = T + rng.integers(0, MS_PER_H, A)
        ok = consented(w, 1, all_acc, t) & (rng.random(A) < 0.5) & (w.acc_reg <= t)
        send(all_acc[ok], 1, t[ok], f"sms_promo_{day(T)}")
    for T in _weekly(S, E, int(1.5 * MS_PER_D), 7 * MS_PER_D):
        t = T + rng.integers(0, MS_PER_H, A)
        ok = consented(w, 2, all_acc, t) & (rng.random(A) < 0.7) & (w.acc_reg <= t)
        send(all_acc[ok], 2, t[ok], f"push_weekly_{day(T)}")
    # welcome series
    new = np.flatnonzero(w.acc_reg >= S)
    for step, delay in ((1, 10 * MS_PER_MIN), (2, 3 * MS_PER_D)):
        t = w.acc_reg[new] + delay
        ok = (t <= E) & consented(w, 0, new, t)
        send(new[ok], 0, t[ok], f"welcome_{step}")
    # abandoned-cart reminders sent by the old system (older carts only)
    ab = np.flatnonzero(w.c_abandoned & w.c_valid & (w.c_last < E - 72 * MS_PER_H))
    cart_acc = np.full(w.n_carts, -1, dtype=np.int64)
    logged = (w.ev_acc >= 0) & np.isin(w.ev_e, (E_ADD, E_REMOVE, E_CHECKOUT))
    cart_of_event = w.s_cart[w.ev_s]
    cart_acc[cart_of_event[logged]] = w.ev_acc[logged]
    ab = ab[cart_acc[ab] >= 0]
    t = w.c_last[ab] + rng.integers(MS_PER_H, 3 * MS_PER_H, len(ab))
    ok = (rng.random(len(ab)) < 0.6) & consented(w, 0, cart_acc[ab], t)
    send(cart_acc[ab][ok], 0, t[ok], "abandoned_cart_1")
    # win-back once, to people whose last order is 4-13 months old
    T = E - 20 * MS_PER_D
    if T >= S:
        last = _last_order_before(w, T)
        gap = T - last[w.acc_person]
        t = T + rng.integers(0, 2 * MS_PER_H, A)
        ok = (gap > 120 * MS_PER_D) & (gap < 400 * MS_PER_D) & consented(w, 0, all_acc, t)
        send(all_acc[ok], 0, t[ok], f"winback_{day(T)}")
    # transactional: order confirmations (no marketing consent needed)
    o = np.flatnonzero((w.o_t >= S) & (w.o_acc >= 0) & (w.o_src != 2))
    t = w.o_t[o] + rng.integers(30 * MS_PER_S, 3 * MS_PER_MIN, len(o))
    ok = t <= E
    send(w.o_acc[o][ok], 0, t[ok], "txn_order_confirmation")

    acc = np.concatenate(m_acc)
    chan = np.concatenate(m_chan)
    sent = np.concatenate(m_t)
    camp = np.concatenate(m_camp)
    order = np.lexsort((acc, sent))
    acc, chan, sent, camp = acc[order], chan[order], sent[order], camp[order]
    nm = len(acc)
    person = w.acc_person[acc]

    # what happened to each message
    eng = 0.1 + 0.6 * w.intent[person] + 0.15 * (w.pref[person] == chan)
    u = rng.random(nm)
    hard = np.where(chan == 0, w.acc_bad_email[acc] | (u < 0.003), (chan == 1) & (u < 0.01))
    soft = ~hard & (u >= 0.003) & (u < np.where(chan == 2, 0.05, 0.015))
    delivered = ~hard & ~soft
    t_deliv = sent + rng.integers(MS_PER_S, 60 * MS_PER_S, nm)
    p_open = np.select([chan == 0, chan == 2], [0.1 + 0.45 * eng, 0.05 + 0.3 * eng], 0.0)
    opened = delivered & (rng.random(nm) < p_open)
    t_open = t_deliv + (rng.exponential(3.0, nm) * MS_PER_H).astype(np.int64)
    p_click = np.where(chan == 1, 0.05 + 0.2 * eng, 0.25)
    clicked = np.where(chan == 1, delivered, opened) & (rng.random(nm) < p_click)
    t_click = np.where(chan == 1, t_deliv, t_open) + (rng.exponential(2.0, nm) * MS_PER_MIN).astype(np.int64) + MS_PER_S

    # the ESP suppresses an address after its first hard bounce: nothing more goes there
    first_hard = np.full(A, NEVER, dtype=np.int64)
    hb = hard & (chan == 0)
    np.minimum.at(first_hard, acc[hb], sent[hb])
    suppressed = (chan == 0) & (sent > first_hard[acc])
    keep_msg = ~suppressed
    hard, soft, delivered, opened, clicked = (x & keep_msg for x in (hard, soft, delivered, opened, clicked))

    ev_msg = [np.flatnonzero(keep_msg), np.flatnonzero(delivered), np.flatnonzero(opened), np.flatnonzero(clicked),
              np.flatnonzero(hard | soft)]
    ev_type = [T_SENT, T_DELIVERED, T_OPENED, T_CLICKED, T_BOUNCED]
    ev_t = [sent, t_deliv, t_open, t_click, t_deliv]

    # opt-outs through the channel: attached to the last message before the withdrawal
    unsub_msg, unsub_type, unsub_t = [], [], []
    key = (acc * 3 + chan).astype(np.int64)
    srt = np.lexsort((sent, key))
    for c in range(3):
        who = np.flatnonzero(w.cons_via_channel[c])
        if not len(who):
            continue
        wt = w.cons_w[c][who]
        k = who * 3 + c
        # last message of (acc, channel) sent before wt
        pos = np.searchsorted(key[srt] * (1 << 40) + (sent[srt] - w.H), k * (1 << 40) + (wt - w.H), side="left") - 1
        valid = (pos >= 0)
        pos = np.maximum(pos, 0)
        mi = srt[pos]
        valid &= (key[mi] == k) & (sent[mi] < wt) & (sent[mi] >= wt - 30 * MS_PER_D) & keep_msg[mi]
        # a withdrawal that no message explains is recorded by the CRM after all
        w.cons_unsynced[c][who[~valid]] = False
        mi, who_v, wt_v = mi[valid], who[valid], wt[valid]
        t_u = np.maximum(sent[mi] + MS_PER_MIN, wt_v - 30 * MS_PER_S)
        unsub_msg.append(mi)
        unsub_type.append(np.where(w.cons_complaint[c][who_v], T_COMPLAINED, T_UNSUB))
        unsub_t.append(t_u)
        # the CRM records the withdrawal once the sending system reports it
        w.cons_w[c][who_v] = np.maximum(wt_v, t_u + 5 * MS_PER_S)
    if unsub_msg:
        ev_msg.append(np.concatenate(unsub_msg))
        ev_type.append(np.concatenate(unsub_type))
        um = np.concatenate(unsub_msg)
        full = np.zeros(nm, dtype=np.int64)
        full[um] = np.concatenate(unsub_t)
        ev_t.append(full)

    rows_msg = np.concatenate(ev_msg)
    rows_type = np.concatenate([np.broadcast_to(np.asarray(tp), (len(mg),)) for tp, mg in zip(ev_type, ev_msg)])
    rows_t = np.concatenate([tt[mg] for tt, mg in zip(ev_t, ev_msg)])
    keep = rows_t <= E
    rows_msg, rows_type, rows_t = rows_msg[keep], rows_type[keep], rows_t[keep]
    # webhook redeliveries
    dup = np.flatnonzero(rng.random(len(rows_msg)) < 0.005)
    idx = np.concatenate([np.arange(len(rows_msg)), dup])
    order = np.lexsort((rows_type[idx], rows_msg[idx], rows_t[idx]))
    idx = idx[order]
    mm, tt, at = rows_msg[idx], rows_type[idx], rows_t[idx]
    msg_ids = hex_strings(rng, nm, 24, prefix="msg_")
    bounce = np.where(tt == T_BOUNCED, np.where(hard[mm], 0, 1), -1)
    table = pa.table({
        "message_id": msg_ids.take(pa.array(mm)),
        "customer_id": w.acc_ids.take(pa.array(acc[mm])),
        "channel": np.array(MSG_CHANNELS)[chan[mm]],
        "campaign_id": take_str(campaigns, camp[mm]),
        "event_type": np.array(EVENT_TYPES)[tt],
        "bounce_type": take_str(["hard", "soft"], bounce),
        "occurred_at": ts_col(at),
    })
    return table, acc[mm]


def _last_order_before(w: World, T: int) -> np.ndarray:
    """Per person: time of the last non-cancelled order before T (very old when none)."""
    last = np.full(w.n, -(1 << 50), dtype=np.int64)
    ok = (w.o_t < T) & ~w.o_cancelled
    np.maximum.at(last, w.o_person[ok], w.o_t[ok])
    return last
