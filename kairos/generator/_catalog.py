"""The catalog: products, their price history and stock, and product picking
that respects launches and stock-outs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from kairos.generator import _vocab as V
from kairos.generator._util import (
    MS_PER_D,
    MS_PER_H,
    MS_PER_MIN,
    padded_ids,
    round_money,
    take_str,
    ts_col,
    weighted_choice,
)
from kairos.generator._world import World

PER_CATEGORY = 40


def _price_ending(p: np.ndarray) -> np.ndarray:
    """Shop prices: x.99 / x.49 below 100, whole euros minus a cent above."""
    p = np.maximum(np.asarray(p, dtype=np.float64), 1.0)
    small = np.floor(p) + np.where(p - np.floor(p) < 0.5, 0.49, 0.99)
    large = np.round(p) - 0.01
    return round_money(np.where(p < 100, small, large))


def build_catalog(w: World) -> None:
    rng = w.rng("catalog")
    ncat = len(V.CATEGORIES)
    n = ncat * PER_CATEGORY
    cat = np.repeat(np.arange(ncat), PER_CATEGORY)
    base_price = np.zeros(n)
    cost_share = np.zeros(n)
    consumable = np.zeros(n, dtype=bool)
    repl_days = np.zeros(n, dtype=np.int64)
    for ci, name in enumerate(V.CATEGORIES):
        (lo, hi), share, cons_share, repl = V.CATEGORY_ECONOMICS[name]
        rows = np.flatnonzero(cat == ci)
        x = rng.beta(1.6, 3.2, len(rows))
        base_price[rows] = np.exp(np.log(lo) + x * (np.log(hi) - np.log(lo)))
        cost_share[rows] = np.clip(share * rng.uniform(0.7, 1.3, len(rows)), 0.12, 0.93)
        consumable[rows] = rng.random(len(rows)) < cons_share
        if repl:
            repl_days[rows] = rng.integers(repl[0], repl[1] + 1, len(rows))
    repl_days = np.where(consumable, repl_days, 0)
    base_price = _price_ending(base_price)
    unit_cost = round_money(base_price * cost_share)

    # popularity: Zipf-like within each category
    pop = np.zeros(n)
    for ci in range(ncat):
        rows = np.flatnonzero(cat == ci)
        pop[rows] = 1.0 / (1.0 + rng.permutation(len(rows))) ** 0.9
    w.cat_cdf = []
    for ci in range(ncat):
        rows = np.flatnonzero(cat == ci)
        c = np.cumsum(pop[rows] / pop[rows].sum())
        c[-1] = 1.0
        w.cat_cdf.append((rows[0], c))

    # names
    names, skus = [], []
    brand_idx = rng.integers(0, 5, n)
    noun_idx = rng.integers(0, 8, n)
    var_idx = rng.integers(0, len(V.PRODUCT_VARIANTS), n)
    sizes = np.array(["250g", "500g", "1kg", "2kg", "100ml", "200ml", "6-pack", "12-pack"])[rng.integers(0, 8, n)]
    for i in range(n):
        cname = V.CATEGORIES[cat[i]]
        parts = [V.BRANDS[cname][brand_idx[i]], V.PRODUCT_NOUNS[cname][noun_idx[i]], V.PRODUCT_VARIANTS[var_idx[i]]]
        if consumable[i]:
            parts.append(str(sizes[i]))
        names.append(" ".join(p for p in parts if p))
        skus.append(f"{V.SKU_PREFIX[cat[i]]}-{10000 + i * 7 + int(brand_idx[i]):05d}")

    # launches: most long ago, some during the history, a few in the window
    u = rng.random(n)
    launch = np.where(
        u < 0.85,
        w.H - (rng.random(n) * 2 * 365 * MS_PER_D).astype(np.int64),
        np.where(
            u < 0.95,
            w.H + (rng.random(n) * (w.S - w.H)).astype(np.int64),
            w.S + (rng.random(n) * max(w.E - w.S - 2 * MS_PER_D, MS_PER_D)).astype(np.int64),
        ),
    )
    launch = np.minimum((launch // MS_PER_H) * MS_PER_H + 6 * MS_PER_H, w.E - MS_PER_H)

    w.n_prod = n
    w.prod_cat, w.prod_pop, w.prod_launch = cat, pop, launch
    w.prod_consumable, w.prod_repl = consumable, repl_days
    w.prod_cost = unit_cost
    w.prod_base_price = base_price
    w.prod_ids = padded_ids("P", np.arange(1, n + 1), 5)
    w.prod_names = np.array(names)
    w.prod_skus = np.array(skus)
    w.prod_brand = np.array([V.BRANDS[V.CATEGORIES[cat[i]]][brand_idx[i]] for i in range(n)])
    _prices(w, rng)
    _inventory(w, rng)


def _prices(w: World, rng: np.random.Generator) -> None:
    """Price timeline per product: temporary sales, permanent changes, recent drops."""
    n = w.n_prod
    popular = w.prod_pop >= np.quantile(w.prod_pop, 0.6)
    recent_drop = rng.random(n) < np.where(popular, 0.12, 0.04)
    ph_prod, ph_time, ph_price = [], [], []
    for i in range(n):
        t0 = int(w.prod_launch[i])
        lo = max(t0, w.H)
        span_d = (w.E - lo) / MS_PER_D
        # permanent base changes (more increases than decreases)
        k = rng.poisson(span_d / 365.0)
        base_t = np.sort(lo + (rng.random(k) * (w.E - lo)).astype(np.int64))
        base_f = np.cumprod(1.0 + rng.uniform(-0.10, 0.12, k))
        # sales: a drop, then back to the base price (more often in the recent window)
        win_lo = max(lo, w.S)
        m_old = rng.poisson(max(win_lo - lo, 0) / MS_PER_D / 365.0)
        m_new = rng.poisson((w.E - win_lo) / MS_PER_D / 150.0)
        m = m_old + m_new
        sale_a = np.concatenate([
            lo + (rng.random(m_old) * max(win_lo - lo, 0)).astype(np.int64),
            win_lo + (rng.random(m_new) * (w.E - win_lo)).astype(np.int64),
        ])
        sale_b = sale_a + (rng.uniform(3, 14, m) * MS_PER_D).astype(np.int64)
        depth = rng.uniform(0.10, 0.35, m)
        if recent_drop[i]:
            a = w.E - int(rng.uniform(6, 120) * MS_PER_H)
            sale_a = np.append(sale_a, max(a, lo))
            sale_b = np.append(sale_b, w.E + 30 * MS_PER_D)
            depth = np.append(depth, rng.uniform(0.12, 0.35))
        points = np.unique(np.concatenate([[t0], base_t, sale_a, sale_b[sale_b <= w.E]]))
        bi = np.searchsorted(base_t, points, side="right")
        base = w.prod_base_price[i] * np.concatenate([[1.0], base_f])[bi]
        in_sale = (sale_a[None, :] <= points[:, None]) & (points[:, None] < sale_b[None, :])
        d = np.where(in_sale, depth[None, :], 0.0).max(axis=1) if m or recent_drop[i] else np.zeros(len(points))
        price = _price_ending(base * (1 - d))
        keep = np.r_[True, price[1:] != price[:-1]]
        ph_prod.append(np.full(keep.sum(), i))
        ph_time.append(points[keep])
        ph_price.append(price[keep])
    w.ph_prod = np.concatenate(ph_prod)
    w.ph_time = np.concatenate(ph_time)
    w.ph_price = np.concatenate(ph_price)
    w._ph_key = w.ph_prod.astype(np.int64) * (1 << 44) + (w.ph_time - w.H + (1 << 42))


def price_at(w: World, prod: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Price in effect for each (product, time); the launch price before launch."""
    key = np.asarray(prod, dtype=np.int64) * (1 << 44) + (np.asarray(t, dtype=np.int64) - w.H + (1 << 42))
    idx = np.searchsorted(w._ph_key, key, side="right") - 1
    first = np.searchsorted(w.ph_prod, prod, side="left")
    idx = np.maximum(idx, first)
    return w.ph_price[idx]


def _inventory(w: World, rng: np.random.Generator) -> None:
    """Daily stock per product over the window, with forced stock-outs and restocks."""
    n, D = w.n_prod, w.days
    mean = 0.4 + 8.0 * w.prod_pop / w.prod_pop.max()
    mean = mean * np.where(w.prod_cat == V.CATEGORIES.index("electronics"), 0.5, 1.0)
    rp = (6 * mean + 5).astype(np.int64)
    qty = (25 * mean + 20).astype(np.int64)
    lead = rng.integers(2, 7, n)
    stock = rng.integers(20, 300, n) * np.where(w.prod_cat == V.CATEGORIES.index("electronics"), 0.4, 1.0)
    stock = np.maximum(stock.astype(np.int64), rp + 5)
    # stock-out episodes [a, b) in days: ongoing at the end, just back, or somewhere in the window
    popular = w.prod_pop >= np.quantile(w.prod_pop, 0.5)
    u = rng.random(n) / np.where(popular, 1.6, 0.8)
    ep_a = np.full(n, D + 1)
    ep_b = np.full(n, D + 1)
    ongoing = u < 0.04
    back = (u >= 0.04) & (u < 0.08)
    other = (u >= 0.08) & (u < 0.16)
    ep_a[ongoing] = D - rng.integers(2, 11, ongoing.sum())
    ep_b[ongoing] = D + 10
    ep_b[back] = D - rng.integers(1, 5, back.sum())
    ep_a[back] = ep_b[back] - rng.integers(3, 16, back.sum())
    ep_a[other] = rng.integers(0, max(D - 3, 1), other.sum())
    ep_b[other] = ep_a[other] + rng.integers(3, 22, other.sum())
    ep_a = np.maximum(ep_a, 0)

    launch_day = np.floor_divide(w.prod_launch - w.S, MS_PER_D)
    level = np.zeros((n, D), dtype=np.int64)
    arrive = np.full(n, -1)
    for d in range(D):
        stock = np.maximum(stock - rng.poisson(mean), 0)
        arrived = arrive == d
        stock = np.where(arrived, stock + qty, stock)
        arrive = np.where(arrived, -1, arrive)
        reorder = (stock < rp) & (arrive < 0)
        arrive = np.where(reorder, d + lead, arrive)
        out = (ep_a <= d) & (d < ep_b)
        stock = np.where(out, 0, stock)
        arrive = np.where(out, -1, arrive)
        stock = np.where(d == ep_b, qty + rp, stock)
        level[:, d] = stock
    w.oos = level == 0
    alive = np.arange(D)[None, :] >= launch_day[:, None]
    changed = np.ones((n, D), dtype=bool)
    changed[:, 1:] = level[:, 1:] != level[:, :-1]
    first_alive = np.arange(D)[None, :] == np.maximum(launch_day, 0)[:, None]
    rec = alive & (changed | first_alive)
    pi, di = np.nonzero(rec)
    at = w.S + di * MS_PER_D + rng.integers(0, MS_PER_D, len(di))
    at = np.where(di == np.maximum(launch_day[pi], 0), np.maximum(at, w.prod_launch[pi] + MS_PER_MIN), at)
    at = np.minimum(at, w.E - MS_PER_MIN)
    w.inv_prod, w.inv_qty, w.inv_at = pi, level[pi, di], at


def available(w: World, prod: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whether a product can be bought at time t (launched and in stock)."""
    day = np.floor_divide(np.asarray(t) - w.S, MS_PER_D)
    in_window = (day >= 0) & (day < w.days)
    oos = np.zeros(len(prod), dtype=bool)
    oos[in_window] = w.oos[prod[in_window], day[in_window]]
    return (w.prod_launch[prod] <= t) & ~oos


def pick_products(w: World, rng: np.random.Generator, cat: np.ndarray, t: np.ndarray, buyable: bool) -> np.ndarray:
    """A product per row from the row's category by popularity, launched by t
    (and in stock when `buyable`), else the next acceptable one in the category."""
    m = len(cat)
    out = np.zeros(m, dtype=np.int64)
    u = rng.random(m)
    for ci, (start, cdf) in enumerate(w.cat_cdf):
        rows = np.flatnonzero(cat == ci)
        out[rows] = start + np.minimum(np.searchsorted(cdf, u[rows], side="right"), len(cdf) - 1)
    for _ in range(12):
        ok = available(w, out, t) if buyable else (w.prod_launch[out] <= t)
        if ok.all():
            break
        bad = np.flatnonzero(~ok)
        c = w.prod_cat[out[bad]]
        out[bad] = c * PER_CATEGORY + (out[bad] - c * PER_CATEGORY + 1 + rng.integers(0, 5, len(bad))) % PER_CATEGORY
    return out


def person_categories(w: World, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
    """A category per row: the person's favourites most of the time."""
    m = len(person)
    u = rng.random(m)
    other = weighted_choice(rng, V.CATEGORY_WEIGHTS, m)
    return np.where(u < 0.45, w.fav1[person], np.where(u < 0.7, w.fav2[person], other))


def catalog_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("catalog_tables")
    n = w.n_prod
    # PIM exports: the first export after launch, then one per price change
    first_export = np.maximum(w.prod_launch, w.H) + rng.integers(MS_PER_MIN, 2 * MS_PER_H, n)
    chg = w.ph_time > np.maximum(w.prod_launch, w.H)[w.ph_prod]
    rows_prod = np.concatenate([np.arange(n), w.ph_prod[chg]])
    rows_at = np.concatenate([first_export, w.ph_time[chg] + rng.integers(MS_PER_MIN, 2 * MS_PER_H, chg.sum())])
    rows_at = np.minimum(rows_at, w.E - MS_PER_MIN)
    rows_price = price_at(w, rows_prod, rows_at)
    rows_cost = w.prod_cost[rows_prod].astype(np.float64)
    order = np.lexsort((rows_prod, rows_at))
    rows_prod, rows_at, rows_price, rows_cost = rows_prod[order], rows_at[order], rows_price[order], rows_cost[order]
    # a few broken rows: missing id, missing price, negative cost
    k = max(3, int(0.005 * len(rows_prod)))
    bad = rng.choice(len(rows_prod), k, replace=False)
    kind = np.arange(k) % 3
    bad_prod = rows_prod[bad]
    bad_at = rows_at[bad] + MS_PER_MIN
    bad_price = np.where(kind == 1, np.nan, rows_price[bad])
    bad_cost = np.where(kind == 2, -rows_cost[bad], rows_cost[bad])
    all_prod = np.concatenate([rows_prod, bad_prod])
    all_at = np.concatenate([rows_at, bad_at])
    price = np.concatenate([rows_price, bad_price])
    cost = np.concatenate([rows_cost, bad_cost])
    id_null = np.concatenate([np.zeros(len(rows_prod), bool), kind == 0])
    order = np.argsort(all_at, kind="stable")
    all_prod, all_at, price, cost, id_null = all_prod[order], all_at[order], price[order], cost[order], id_null[order]
    cons = w.prod_consumable[all_prod]
    products = pa.table({
        "product_id": take_str(w.prod_ids, np.where(id_null, -1, all_prod)),
        "sku": w.prod_skus[all_prod],
        "product_name": w.prod_names[all_prod],
        "category": np.array(V.CATEGORIES)[w.prod_cat[all_prod]],
        "brand": w.prod_brand[all_prod],
        "list_price": pa.array(price, mask=np.isnan(price)),
        "unit_cost": cost,
        "is_consumable": cons,
        "replenishment_days": pa.array(w.prod_repl[all_prod], mask=~cons),
        "launched_at": ts_col(w.prod_launch[all_prod]),
        "updated_at": ts_col(all_at),
    })

    # price history, with a few rows delivered twice
    dup = rng.random(len(w.ph_prod)) < 0.005
    idx = np.sort(np.concatenate([np.arange(len(w.ph_prod)), np.flatnonzero(dup)]), kind="stable")
    order = np.lexsort((w.ph_prod[idx], w.ph_time[idx]))
    idx = idx[order]
    price_history = pa.table({
        "product_id": w.prod_ids.take(pa.array(w.ph_prod[idx])),
        "price": w.ph_price[idx],
        "effective_at": ts_col(w.ph_time[idx]),
    })

    # stock snapshots, with a few scanner glitches (negative counts) and duplicates
    m = len(w.inv_prod)
    glitch = rng.random(m) < 0.002
    dup = rng.random(m) < 0.003
    base_idx = np.arange(m)
    idx = np.concatenate([base_idx, np.flatnonzero(glitch), np.flatnonzero(dup)])
    qty = np.concatenate([w.inv_qty, -rng.integers(1, 6, glitch.sum()), w.inv_qty[dup]])
    at = np.concatenate([w.inv_at, w.inv_at[glitch] + MS_PER_MIN // 2, w.inv_at[dup]])
    at = np.minimum(at, w.E)
    order = np.lexsort((w.inv_prod[idx], at))
    inventory = pa.table({
        "product_id": w.prod_ids.take(pa.array(w.inv_prod[idx][order])),
        "quantity_on_hand": qty[order].astype(np.int64),
        "recorded_at": ts_col(at[order]),
    })
    return {"products": products, "price_history": price_history, "inventory_levels": inventory}
