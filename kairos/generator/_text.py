"""Contact points as people type them: email case and padding, typos, invalid
addresses, phone numbers in national and international formats."""

from __future__ import annotations

import numpy as np

from kairos.generator import _vocab as V
from kairos.generator._util import weighted_choice
from kairos.generator._world import World

_add = np.strings.add


def email_as_typed(rng: np.random.Generator, emails: np.ndarray, messy: float = 1.0) -> np.ndarray:
    """Case and padding variants of clean addresses (about 12% of rows at messy=1)."""
    e = np.asarray(emails).astype(str)
    if len(e) == 0:
        return e
    u = rng.random(len(e)) / messy
    out = np.where(u < 0.03, np.strings.upper(e), e)
    out = np.where((u >= 0.03) & (u < 0.07), np.strings.capitalize(e), out)
    out = np.where((u >= 0.07) & (u < 0.10), _add(" ", out), out)
    out = np.where((u >= 0.10) & (u < 0.12), _add(out, "  "), out)
    out = np.where((u >= 0.12) & (u < 0.13), _add(_add("  ", np.strings.upper(e)), " "), out)
    return out


def email_typo(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """A plausible slip of the finger: a misspelt domain, else a doubled letter."""
    e = np.asarray(emails).astype(str)
    if len(e) == 0:
        return e
    local, _, domain = np.strings.partition(e, "@")
    out = _add(_add(_add(np.strings.slice(local, 0, 2), np.strings.slice(local, 1, 2)), np.strings.slice(local, 2, None)),
               _add("@", domain))
    u = rng.random(len(e))
    for dom, typos in V.DOMAIN_TYPOS.items():
        hit = domain == dom
        if hit.any():
            pick = np.array(typos)[(u[hit] * len(typos)).astype(np.int64)]
            out[hit] = _add(_add(local[hit], "@"), pick)
    return out


def email_invalid(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """Addresses that cannot be right: no @, no top-level domain, double dot, a space."""
    e = np.asarray(emails).astype(str)
    if len(e) == 0:
        return e
    kind = rng.integers(0, 4, len(e))
    no_at = np.strings.replace(e, "@", "", 1)
    no_tld = np.strings.rpartition(e, ".")[0]
    double_dot = np.strings.replace(e, ".", "..", 1)
    space = np.strings.replace(e, "@", " @", 1)
    return np.select([kind == 0, kind == 1, kind == 2], [no_at, no_tld, double_dot], space)


def _templates() -> tuple[list[tuple[int, str]], dict[int, tuple[np.ndarray, np.ndarray]]]:
    flat: list[tuple[int, str]] = []
    per_country: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ci, c in enumerate(V.COUNTRIES):
        ids, weights = [], []
        for template, weight in V.PHONE_FORMATS[c]:
            ids.append(len(flat))
            weights.append(weight)
            flat.append((ci, template))
        per_country[ci] = (np.array(ids), np.array(weights))
    return flat, per_country


_FLAT, _PER_COUNTRY = _templates()


def phone_as_typed(w: World, rng: np.random.Generator, person: np.ndarray, invalid: float = 0.0) -> np.ndarray:
    """The person's mobile number in a format typical for their country, chosen per row."""
    person = np.asarray(person, dtype=np.int64)
    m = len(person)
    template = np.zeros(m, dtype=np.int64)
    country = w.country[person]
    for ci, (ids, weights) in _PER_COUNTRY.items():
        rows = np.flatnonzero(country == ci)
        template[rows] = ids[weighted_choice(rng, weights, len(rows))]
    out = np.empty(m, dtype=object)
    for t in np.unique(template):
        rows = np.flatnonzero(template == t)
        spec = _FLAT[t][1]
        digits = w.phone_digits[person[rows]]
        chars = np.empty((len(rows), len(spec)), dtype=np.uint8)
        k = 0
        for pos, ch in enumerate(spec):
            if ch == "N":
                chars[:, pos] = 48 + digits[:, k]
                k += 1
            else:
                chars[:, pos] = ord(ch)
        out[rows] = np.ascontiguousarray(chars).view(f"S{len(spec)}").ravel().astype(f"U{len(spec)}")
    out = out.astype(str)
    if invalid > 0:
        bad = rng.random(m) < invalid
        kind = rng.integers(0, 2, m)
        broken = np.where(kind == 0, np.strings.slice(out, 0, 7), _add(out, " mobil"))
        out = np.where(bad, broken, out)
    return out


def phone_e164(w: World) -> np.ndarray:
    """Every person's true mobile number in E.164 (+<calling code><national number>)."""
    out = np.empty(w.n, dtype=object)
    for ci, c in enumerate(V.COUNTRIES):
        rows = np.flatnonzero(w.country == ci)
        if not len(rows):
            continue
        width = int(w.phone_len[rows[0]])
        digits = (48 + w.phone_digits[rows, :width]).astype(np.uint8)
        nsn = np.ascontiguousarray(digits).view(f"S{width}").ravel().astype(f"U{width}")
        out[rows] = np.strings.add("+" + V.CALLING_CODES[c], nsn)
    return out.astype(str) if w.n else np.array([], dtype=str)
