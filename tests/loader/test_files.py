"""Reading landing-zone files: type detection, table names, every format, gzip, refusals."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipline.errors import LoadError
from shipline.loader import detect_kind, read_table, table_for_key

ROWS = [
    {"order_id": "O1", "line_number": 1, "qty": 2, "price": 9.5},
    {"order_id": "O1", "line_number": 2, "qty": 1, "price": 3.25},
]


def parquet_bytes(rows: list[dict[str, object]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def csv_bytes(rows: list[dict[str, object]]) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def ndjson_bytes(rows: list[dict[str, object]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.mark.parametrize(
    ("key", "table"),
    [
        ("order_items/year=2025/month=11/day=13/order_items_20251113_001.parquet", "order_items"),
        ("in/order_summary/year=2025/month=1/day=2/x.json", "order_summary"),
        ("order_flattened_20251113_007.csv.gz", "order_flattened"),
        ("drops/customers.ndjson", "customers"),
        ("Order_Summary_20250101.parquet", "order_summary"),
    ],
)
def test_table_name_from_key(key: str, table: str) -> None:
    assert table_for_key(key) == table


@pytest.mark.parametrize("key", ["my-table/year=2025/month=1/day=1/a.csv", "1abc.csv", "a-b.csv"])
def test_table_name_refuses_non_identifiers(key: str) -> None:
    with pytest.raises(LoadError, match="not a plain identifier"):
        table_for_key(key)


@pytest.mark.parametrize(
    ("name", "make", "fmt"),
    [
        ("t.parquet", parquet_bytes, "parquet"),
        ("t.csv", csv_bytes, "csv"),
        ("t.ndjson", ndjson_bytes, "ndjson"),
        ("t.jsonl", ndjson_bytes, "ndjson"),
        ("t.json", lambda rows: json.dumps(rows).encode(), "json"),
        ("t.json", ndjson_bytes, "json"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_every_format_reads_the_same_rows(name: str, make: object, fmt: str, gz: bool) -> None:
    data = make(ROWS)  # type: ignore[operator]
    key = name + (".gz" if gz else "")
    if gz:
        data = gzip.compress(data)
    kind = detect_kind(key, data)
    assert kind.format == fmt
    assert kind.gzipped is gz
    table = read_table(key, data)
    assert table.to_pylist() == ROWS


def test_gzip_detected_by_magic_without_suffix() -> None:
    kind = detect_kind("t.csv", gzip.compress(csv_bytes(ROWS)))
    assert kind.gzipped
    assert read_table("t.csv", gzip.compress(csv_bytes(ROWS))).num_rows == 2


@pytest.mark.parametrize(
    ("key", "data", "message"),
    [
        ("t.parquet", b"PAR1 not really", "not a Parquet file"),
        ("t.parquet", parquet_bytes(ROWS)[:-30], "not a Parquet file"),
        ("t.csv.gz", b"\x1f\x8bbroken", "not a readable gzip"),
        ("t.json", b'[{"a": 1}, 2]', "cannot be read as json"),
        ("t.ndjson", b'{"a": 1}\n{"a": ', "cannot be read as ndjson"),
        ("t.json", b"", "no rows"),
        ("t.csv", b"a,b\n", "no rows"),
        ("t.json", b"[]", "no rows"),
        ("t.xlsx", b"PK", "unknown file type"),
        ("t.csv", b"A,a\n1,2\n", "column names repeat"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(key: str, data: bytes, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        read_table(key, data)
