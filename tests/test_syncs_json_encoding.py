"""The column-wise JSON encoder of webhook bodies must not change what is
sent: escaping is decided over the value bytes and quotes are folded into
literal pieces, and the result must equal json.dumps row by row."""

from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa
import pytest

from syncs.destinations.base import _json_default, _text_needs_escaping, encode_json_rows


def _dumps(table: pa.Table) -> list[str]:
    return [json.dumps(r, default=_json_default, ensure_ascii=False, separators=(",", ":"))
            for r in table.to_pylist()]


def test_encoder_matches_json_dumps_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = ["a", "é", '"', "\\", "\t", "\x01", "z", " ", "€", "/"]

    def text() -> str | None:
        if rng.random() < 0.1:
            return None
        letters = alphabet[: rng.choice([2, 4, 10])]
        return "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))

    for _ in range(200):
        n = rng.randint(1, 25)
        table = pa.table({"a": [text() for _ in range(n)], "b": [f"x{i}" for i in range(n)],
                          "c": [rng.random() for _ in range(n)]})
        if rng.random() < 0.5:  # several chunks, then a slice: offsets that do not start at 0
            table = pa.concat_tables([table, table])
        start = rng.randint(0, table.num_rows - 1)
        table = table.slice(start, rng.randint(0, table.num_rows - start))
        assert encode_json_rows(table) == _dumps(table)


def test_encoder_matches_json_dumps_on_typed_columns() -> None:
    table = pa.table({
        "id": ["c1", "c2", "c3"], "quoted": ['say "hi"', "back\\slash", "plain"],
        "n": [1, None, 3], "f": [1.0, 2.5, None], "flag": [True, None, False],
        "ts": [dt.datetime(2026, 1, 1, 12, 0, s) for s in range(3)],
        "day": [dt.date(2026, 1, d) for d in (1, 2, 3)], "nothing": pa.nulls(3, pa.string()),
    })
    assert encode_json_rows(table) == _dumps(table)


@pytest.mark.parametrize("values, expected", [
    (["plain", "text", "ünïcode €"], False), (['a"b'], True), (["a\\b"], True), (["tab\there"], True), ([""], False),
])
def test_text_needs_escaping(values: list[str], expected: bool) -> None:
    assert _text_needs_escaping(pa.array(values, pa.string())) is expected
    # a slice sees only its own bytes
    padded = pa.array(['"'] + values + ["\\"], pa.string()).slice(1, len(values))
    assert _text_needs_escaping(padded) is expected
