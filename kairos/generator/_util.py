"""Vectorised helpers: random streams, ids, ISO text timestamps, Arrow columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MS_PER_S = 1_000
MS_PER_MIN = 60_000
MS_PER_H = 3_600_000
MS_PER_D = 86_400_000

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UP = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per generator stage, stable for (seed, name).

    Stages draw from their own stream so that changing one stage does not shift
    the numbers every other stage sees."""
    key = [int(b) for b in name.encode("ascii")]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF, *key])


def bytes_to_arrow(chars: np.ndarray) -> pa.Array:
    """(n, width) uint8 ASCII matrix -> Arrow string array of width-character strings."""
    n, width = chars.shape
    if n == 0:
        return pa.array([], type=pa.string())
    flat = np.ascontiguousarray(chars).view(f"S{width}").ravel()
    return pa.array(flat, type=pa.binary(width)).cast(pa.binary()).cast(pa.string())


def hex_strings(rng: np.random.Generator, n: int, width: int, prefix: str = "", upper: bool = False) -> pa.Array:
    """n random hex strings of `width` digits after `prefix`."""
    digits = (_HEX_UP if upper else _HEX)[rng.integers(0, 16, size=(n, width), dtype=np.uint8)]
    if prefix:
        pre = np.broadcast_to(np.frombuffer(prefix.encode("ascii"), dtype=np.uint8), (n, len(prefix)))
        digits = np.concatenate([pre, digits], axis=1)
    return bytes_to_arrow(digits)


def uuid_strings(rng: np.random.Generator, n: int, upper: bool = False) -> pa.Array:
    """n random version-4 UUID strings (8-4-4-4-12)."""
    table = _HEX_UP if upper else _HEX
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    nib = np.empty((n, 32), dtype=np.uint8)
    nib[:, 0::2] = raw >> 4
    nib[:, 1::2] = raw & 15
    nib[:, 12] = 4
    nib[:, 16] = 8 + (nib[:, 16] & 3)
    hexed = table[nib]
    out = np.empty((n, 36), dtype=np.uint8)
    dash = ord("-")
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 8] = dash
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 13] = dash
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 18] = dash
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 23] = dash
    out[:, 24:36] = hexed[:, 20:32]
    return bytes_to_arrow(out)


def padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal numbers ("C" + 0000042)."""
    text = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm)."""
    z = days.astype(np.int64) + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _put(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    for k in range(width - 1, -1, -1):
        out[:, col + k] = 48 + values % 10
        values = values // 10


def iso_text(ms: np.ndarray, style: str, offset_min: np.ndarray | None = None) -> pa.Array:
    """Text timestamps from epoch milliseconds.

    style "ms_z":  2024-05-01T12:34:56.789Z   (web SDK)
    style "off":   2024-05-01T14:34:56+02:00  (app SDK: local wall time with its UTC offset)
    style "space": 2024-05-01 12:34:56        (POS, UTC without zone)
    """
    ms = np.asarray(ms, dtype=np.int64)
    if style == "off":
        assert offset_min is not None
        ms = ms + np.asarray(offset_min, dtype=np.int64) * MS_PER_MIN
    days = np.floor_divide(ms, MS_PER_D)
    rem = ms - days * MS_PER_D
    year, month, day = _civil(days)
    hh, rem = np.divmod(rem, MS_PER_H)
    mi, rem = np.divmod(rem, MS_PER_MIN)
    ss, frac = np.divmod(rem, MS_PER_S)
    width = {"ms_z": 24, "off": 25, "space": 19}[style]
    out = np.empty((len(ms), width), dtype=np.uint8)
    _put(out, 0, year, 4)
    out[:, 4] = ord("-")
    _put(out, 5, month, 2)
    out[:, 7] = ord("-")
    _put(out, 8, day, 2)
    out[:, 10] = ord(" ") if style == "space" else ord("T")
    _put(out, 11, hh, 2)
    out[:, 13] = ord(":")
    _put(out, 14, mi, 2)
    out[:, 16] = ord(":")
    _put(out, 17, ss, 2)
    if style == "ms_z":
        out[:, 19] = ord(".")
        _put(out, 20, frac, 3)
        out[:, 23] = ord("Z")
    elif style == "off":
        off = np.asarray(offset_min, dtype=np.int64)
        out[:, 19] = np.where(off < 0, ord("-"), ord("+"))
        a = np.abs(off)
        _put(out, 20, a // 60, 2)
        out[:, 22] = ord(":")
        _put(out, 23, a % 60, 2)
    return bytes_to_arrow(out)


def date_text(days: np.ndarray) -> np.ndarray:
    """Days since epoch -> numpy array of 'YYYY-MM-DD' strings."""
    year, month, day = _civil(np.asarray(days, dtype=np.int64))
    out = np.empty((len(days), 10), dtype=np.uint8)
    _put(out, 0, year, 4)
    out[:, 4] = ord("-")
    _put(out, 5, month, 2)
    out[:, 7] = ord("-")
    _put(out, 8, day, 2)
    return np.ascontiguousarray(out).view("S10").ravel().astype("U10")


def ts_col(ms: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Epoch milliseconds -> Arrow timestamp[us] (naive UTC); mask=True means null."""
    us = np.asarray(ms, dtype=np.int64) * 1000
    return pa.array(us.view("datetime64[us]"), type=pa.timestamp("us"), mask=mask)


def str_col(values: np.ndarray | Sequence[str], mask: np.ndarray | None = None) -> pa.Array:
    """numpy unicode array -> Arrow string; mask=True means null."""
    return pa.array(np.asarray(values), type=pa.string(), mask=mask)


def take_str(vocab: pa.Array | np.ndarray | Sequence[str], idx: np.ndarray) -> pa.Array:
    """vocab[idx] as an Arrow string array; idx < 0 gives null."""
    if not isinstance(vocab, pa.Array):
        vocab = pa.array(np.asarray(vocab, dtype=object) if len(vocab) else [], type=pa.string())
    idx = np.asarray(idx, dtype=np.int64)
    neg = idx < 0
    if neg.any():
        return vocab.take(pa.array(np.where(neg, 0, idx), mask=neg))
    return vocab.take(pa.array(idx))


def repeat_ranges(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts c_i: (owner index repeated c_i times, 0..c_i-1 within each owner)."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum())) - np.repeat(offsets, counts)
    return owner, within


def weighted_choice(rng: np.random.Generator, weights: Sequence[float], size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def at(arr: np.ndarray, idx: np.ndarray, fill=0) -> np.ndarray:
    """arr[idx] where idx >= 0, else fill (safe when arr is empty)."""
    idx = np.asarray(idx, dtype=np.int64)
    out = np.full(idx.shape, fill, dtype=np.asarray(arr).dtype if len(arr) else np.asarray([fill]).dtype)
    ok = idx >= 0
    if ok.any():
        out[ok] = np.asarray(arr)[idx[ok]]
    return out


def round_money(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) + 1e-9, 2)
