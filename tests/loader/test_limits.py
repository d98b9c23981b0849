"""The loader's limits: the decompression cap and the JSON nesting depth."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest

from shipline.errors import LoadError
from shipline.loader import read_table
from shipline.loader.limits import MAX_JSON_DEPTH, decompress, json_depth

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"", 0),
        (b'{"a": 1}', 1),
        (b'[1, {"a": [2, {"b": []}]}]', 5),
        (b'{"a": 1}\n{"b": [1, 2]}\n', 2),
        (b'["[[[[", "]]]", {"k": "{"}]', 2),  # brackets in strings do not count
        (b'["\\"[[[", "\\\\", [1]]', 2),  # an escaped quote stays in its string
        (b'["\\\\\\"[[["]', 1),  # \\ then \" : still one string
        (b'[["\\\\"], [[]]]', 3),  # \\ then the closing quote
        (b'"unterminated [[[\n[[1]]', 5),  # an open quote hides nothing, not the next line
        (b"]]]]\n[[[", 3),  # a close with nothing open counts from zero again
        (b"[" * 100_000, 100_000),
        (b"[" * 40 + b"]" * 40, 40),
    ],
)
def test_json_depth_counts_brackets_outside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(bytearray(text)) == depth


def test_json_depth_matches_python_on_generated_documents() -> None:
    """Random nesting of arrays, objects and bracket-laden strings, against a reference."""
    import random

    rng = random.Random(7)

    def document(level: int) -> object:
        roll = rng.random()
        if level > 12 or roll < 0.3:
            return rng.choice(["[", "]", '{"', '\\"[', "x", "\\\\", 1, None])
        if roll < 0.65:
            return [document(level + 1) for _ in range(rng.randint(0, 3))]
        return {f"k{i}]": document(level + 1) for i in range(rng.randint(0, 3))}

    def reference(value: object) -> int:
        if isinstance(value, list):
            return 1 + max(map(reference, value), default=0)
        if isinstance(value, dict):
            return 1 + max(map(reference, value.values()), default=0)
        return 0

    for _ in range(300):
        value = document(0)
        assert json_depth(json.dumps(value).encode()) == reference(value), value


def test_read_table_refuses_json_nested_past_the_limit() -> None:
    deep = b'{"order_id": "A", "x": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(LoadError, match=f"nested {MAX_JSON_DEPTH + 2} levels deep"):
        read_table("t.ndjson", deep + b"}\n")
    with pytest.raises(LoadError, match="levels deep, more than the 500 the loader reads"):
        read_table("t.json", b"[" * 100_000)
    shallow = b'{"order_id": "A", "x": ' + b"[" * 50 + b"1" + b"]" * 50 + b"}\n"
    assert read_table("t.ndjson", shallow).num_rows == 1


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def test_decompression_stops_at_the_cap() -> None:
    data = _gzip(b"x" * MIB)
    assert len(decompress("t.csv.gz", data, True, MIB)) == MIB  # exactly the cap is fine
    with pytest.raises(LoadError) as refused:
        decompress("t.csv.gz", data, True, MIB - 1)
    assert str(refused.value) == (
        "t.csv.gz: expands to more than the 1,048,575 bytes loader_max_uncompressed_bytes"
        " allows when decompressed; split the file, or raise loader_max_uncompressed_bytes"
    )
    with pytest.raises(LoadError, match="2 bytes, more than the 1 bytes"):
        decompress("t.csv", b"ab", False, 1)


def test_every_gzip_member_is_read() -> None:
    data = _gzip(b"order_id\nA\n") + _gzip(b"B\n")
    assert bytes(decompress("t.csv.gz", data, True, MIB)) == b"order_id\nA\nB\n"
    with pytest.raises(LoadError, match="not a readable gzip file"):
        decompress("t.csv.gz", data[:-5], True, MIB)


def test_a_gzip_bomb_costs_about_the_cap_in_memory() -> None:
    """300 MB of JSON in a gzip of 400 KB (300 gzip members of 1 MB each), refused
    at a 4 MiB cap: memory stays near the cap, where reading it whole took 743 MB."""
    line = json.dumps({"order_id": "A", "note": "n" * 10_000}).encode() + b"\n"
    data = _gzip(line * (MIB // len(line))) * 300
    assert len(data) < 500_000
    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match="expands to more than the 4,194,304 bytes"):
            read_table("order_summary.json.gz", data, max_bytes=4 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB
