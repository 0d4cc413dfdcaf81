"""Ground truth: the real person behind every identifier, cart and order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kairos.generator import _vocab as V
from kairos.generator._commerce import EMAIL_KINDS, SOURCES, STATUSES
from kairos.generator._events import E_INSTALL
from kairos.generator._text import phone_e164
from kairos.generator._util import MS_PER_D, at, padded_ids, take_str, ts_col
from kairos.generator._world import ANON, DEVICE_KINDS, PERSON_TYPES, REG, World

PREFERRED = ("email", "sms", "push")


def persons_table(w: World) -> pa.Table:
    n = w.n
    ok = ~w.o_cancelled
    count = np.bincount(w.o_person[ok], minlength=n)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    np.minimum.at(first, w.o_person[ok], w.o_t[ok])
    np.maximum.at(last, w.o_person[ok], w.o_t[ok])
    since_first = (w.E - first) // MS_PER_D
    since_last = (w.E - last) // MS_PER_D
    stage = np.select(
        [w.ptype == ANON, count == 0, since_first <= 30, since_last <= 90, since_last <= 365],
        ["anonymous", "prospect", "new", "active", "dormant"],
        "lost",
    )
    reg = w.ptype == REG
    has_habit = w.habit_prod >= 0
    return pa.table({
        "person_id": w.person_ids,
        "customer_id": take_str(w.acc_ids, w.primary_acc),
        "second_customer_id": take_str(w.acc_ids, w.second_acc),
        "person_type": np.array(PERSON_TYPES)[w.ptype],
        "latent_intent": np.round(w.intent, 6),
        "preferred_channel": np.array(PREFERRED)[w.pref],
        "is_b2b": w.is_b2b,
        "household_id": take_str(padded_ids("HH", np.arange(1, len(w.hh_owner) + 1), 5), w.household),
        "country_code": np.array(V.COUNTRIES)[w.country],
        "city": np.array([c[1] for c in V.CITIES])[w.city],
        "time_zone": np.array(V.TIME_ZONES)[w.tz],
        "primary_email": pa.array(w.email1, mask=~w.has_email),
        "secondary_email": pa.array(w.email2, mask=~w.has_email2),
        "registered_at": ts_col(w.reg_ms, mask=~reg),
        "first_seen_at": ts_col(w.reg_ms),
        "churned_at": ts_col(np.where(w.churn_ms < w.E, w.churn_ms, 0), mask=w.churn_ms >= w.E),
        "favourite_category": np.array(V.CATEGORIES)[w.fav1],
        "second_category": np.array(V.CATEGORIES)[w.fav2],
        "discount_affinity": np.round(w.discount_aff, 6),
        "replenishment_product_id": take_str(w.prod_ids, w.habit_prod),
        "replenishment_cycle_days": pa.array(np.round(w.habit_cycle / MS_PER_D, 2), mask=~has_habit),
        "orders_count": count.astype(np.int64),
        "first_order_at": ts_col(np.where(count > 0, first, 0), mask=count == 0),
        "last_order_at": ts_col(np.where(count > 0, last, 0), mask=count == 0),
        "lifecycle_stage": stage,
    })


def identifiers_table(w: World, crm: pa.Table, crm_meta: dict, orders: pa.Table, order_person: np.ndarray,
                      events: pa.Table, ev_meta: dict) -> pa.Table:
    """One row per distinct (identifier_type, identifier_value) seen in raw."""
    types, values, persons, owners, kinds = [], [], [], [], []

    def add(t: str, vals: pa.Array, person: np.ndarray, owner: np.ndarray, kind: str | pa.Array) -> None:
        vals = vals.combine_chunks() if isinstance(vals, pa.ChunkedArray) else vals
        keep = pc.and_(pc.is_valid(vals), pc.not_equal(pc.utf8_trim_whitespace(vals), "")).fill_null(False)
        mask = keep.to_numpy(zero_copy_only=False)
        values.append(vals.filter(keep))
        types.append(np.full(int(mask.sum()), t, dtype=object))
        persons.append(np.asarray(person)[mask])
        owners.append(np.asarray(owner)[mask])
        if isinstance(kind, str):
            kinds.append(pa.array([kind] * int(mask.sum()), type=pa.string()))
        else:
            kinds.append(kind.filter(keep))

    # customer ids: every account, as exported (clean ids)
    second = pa.array(np.where(w.acc_second, "second_customer_id", "customer_id"))
    add("customer_id", w.acc_ids, w.acc_person, w.acc_person, second)
    # devices: who used each one (events whose anonymous id survived)
    keep = ~ev_meta["no_who"]
    dev = ev_meta["dev"][keep]
    per = ev_meta["person"][keep]
    pair = np.unique(dev.astype(np.int64) * (w.n + 1) + per)
    pd_, pp = pair // (w.n + 1), pair % (w.n + 1)
    dev_kind = take_str(list(DEVICE_KINDS), w.dev_kind[pd_])
    add("anonymous_id", w.dev_ids.take(pa.array(pd_)), pp, w.dev_owner[pd_], dev_kind)
    installed = np.unique(ev_meta["dev"][ev_meta["e"] == E_INSTALL])
    tok = np.isin(pd_, installed)
    add("push_token", w.dev_token.take(pa.array(pd_[tok])),
        pp[tok], w.dev_owner[pd_[tok]], "push_token")
    # emails and phones exactly as typed, wherever they appear
    for table, person in ((crm, crm_meta["person"]), (orders, order_person)):
        add("email", table["email"], person, person, "email")
        add("phone", table["phone"], person, person, "phone")
    ev_email = events["email"].combine_chunks()
    add("email", ev_email, ev_meta["person"], ev_meta["person"], "email")

    t = pa.table({
        "identifier_type": pa.array(np.concatenate(types), type=pa.string()),
        "identifier_value": pa.concat_arrays(values),
        "person": np.concatenate(persons).astype(np.int64),
        "owner": np.concatenate(owners).astype(np.int64),
        "kind": pa.concat_arrays(kinds),
    })
    g = t.group_by(["identifier_type", "identifier_value"], use_threads=False).aggregate(
        [("person", "min"), ("person", "count_distinct"), ("owner", "min"), ("kind", "min")]
    )
    g = g.sort_by([("identifier_type", "ascending"), ("identifier_value", "ascending")])
    count = g["person_count_distinct"].to_numpy()
    pmin = g["person_min"].to_numpy()
    omin = g["owner_min"].to_numpy()
    shared = count > 1
    person = np.where(shared, -1, pmin)
    owner = np.where(shared, omin, pmin)
    kind = g["kind_min"].combine_chunks()
    # classify addresses against the person's own ones
    value = g["identifier_value"].combine_chunks()
    norm = pc.utf8_lower(pc.utf8_trim_whitespace(value)).to_numpy(zero_copy_only=False).astype(str)
    is_email = (g["identifier_type"].to_numpy(zero_copy_only=False) == "email")
    pe = np.maximum(person, 0)
    email_kind = np.where(norm == w.email1[pe], "email_primary",
                          np.where(w.has_email2[pe] & (norm == w.email2[pe]), "email_secondary",
                                   np.where(np.char.find(norm, "@") < 0, "email_invalid", "email_other")))
    bad_shape = ~pc.match_substring_regex(
        pa.array(norm), r"^[a-z0-9_%+-]+([.][a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)*[.][a-z]{2,}$"
    ).to_numpy(zero_copy_only=False)
    email_kind = np.where((email_kind == "email_other") & bad_shape, "email_invalid", email_kind)
    email_kind = np.where(email_kind == "email_other", "email_typo", email_kind)
    kind = pc.if_else(pa.array(is_email), pa.array(email_kind), kind)
    # what a perfect normaliser would make of the value: the address in lower case without
    # padding, the person's real number in E.164 however it was typed, other ids unchanged
    is_phone = g["identifier_type"].to_numpy(zero_copy_only=False) == "phone"
    e164 = phone_e164(w)
    true_phone = np.where(person >= 0, e164[pe] if len(e164) else "", "")
    normalised = np.where(is_email, norm, np.where(is_phone, true_phone, value.to_numpy(zero_copy_only=False).astype(str)))
    return pa.table({
        "identifier_type": g["identifier_type"],
        "identifier_value": g["identifier_value"],
        "person_id": take_str(w.person_ids, person),
        "is_shared": shared,
        "person_count": count.astype(np.int64),
        "owner_person_id": take_str(w.person_ids, owner),
        "identifier_kind": kind,
        "normalised_value": pa.array(normalised, type=pa.string()),
    })


def carts_table(w: World) -> pa.Table:
    c = np.flatnonzero(w.c_valid)
    completed_at = at(w.o_t, w.c_order[c], 0)
    return pa.table({
        "cart_id": w.cart_ids.take(pa.array(c)),
        "person_id": w.person_ids.take(pa.array(w.c_person[c])),
        "abandoned": w.c_abandoned[c],
        "last_activity_at": ts_col(w.c_last[c]),
        "created_at": ts_col(w.c_created[c]),
        "item_count": w.c_items[c].astype(np.int64),
        "cart_value": w.c_value[c].astype(np.float64),
        "completed_order_id": take_str(w.order_ids, w.c_order[c]),
        "completed_at": ts_col(completed_at, mask=w.c_order[c] < 0),
        "source": np.where(w.dev_is_app[w.s_dev[w.c_session[c]]], "app", "web"),
    })


def orders_table(w: World) -> pa.Table:
    return pa.table({
        "order_id": w.order_ids,
        "person_id": w.person_ids.take(pa.array(w.o_person)),
        "customer_id": take_str(w.acc_ids, w.o_acc),
        "is_guest_checkout": w.o_guest,
        "email_kind": np.array(EMAIL_KINDS)[w.o_email_kind],
        "source": np.array(SOURCES)[w.o_src],
        "status": np.array(STATUSES)[w.o_status],
        "order_total": w.o_total.astype(np.float64),
        "ordered_at": ts_col(w.o_t),
    })
