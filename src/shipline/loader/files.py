"""Landing-zone files: what a file is (format, compression), which table it feeds, its rows.

Reading is pyarrow's: a Parquet file keeps the schema in its metadata; CSV and JSON
schemas are inferred. Every reader refuses with a ``LoadError`` that says what is
wrong with the file and what to do, and nothing reaches a reader past the limits of
``loader.limits`` (the decompression cap, the JSON nesting depth).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from shipline.errors import LoadError
from shipline.events.formats import FORMATS as FEED_FORMATS
from shipline.loader.limits import MAX_UNCOMPRESSED_BYTES, check_json_depth
from shipline.loader.limits import decompress as decompress_capped

FileFormat = Literal["parquet", "csv", "json", "ndjson"]

FORMATS: dict[str, FileFormat] = {
    "parquet": "parquet",
    "pq": "parquet",
    "csv": "csv",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
}

_PARTITIONED = re.compile(r"(?:^|/)(?P<table>[^/]+)/year=\d{4}/month=\d{1,2}/day=\d{1,2}/[^/]+$")
_DATED_NAME = re.compile(r"^(?P<table>.+?)_\d{8}(?:_\d+)?$")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_FIRST_BYTE = re.compile(rb"\s*(\S)")


@dataclass(frozen=True)
class FileKind:
    """A file's format and whether it is gzipped."""

    format: FileFormat
    gzipped: bool


def sha256(data: bytes) -> str:
    """The hex SHA-256 of a file's bytes: the ledger's checksum for local files."""
    return hashlib.sha256(data).hexdigest()


def _base_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _strip_suffixes(name: str) -> tuple[str, list[str]]:
    """``orders_20250101_001.parquet.gz`` -> ("orders_20250101_001", ["parquet", "gz"])."""
    parts = name.split(".")
    stem, suffixes = parts[0], [p.lower() for p in parts[1:]]
    return stem, suffixes


def detect_kind(key: str, data: bytes) -> FileKind:
    """The format and compression of a file, from its name and checked against its bytes."""
    name = _base_name(key)
    _stem, suffixes = _strip_suffixes(name)
    gzipped = data[:2] == _GZIP_MAGIC or (bool(suffixes) and suffixes[-1] == "gz")
    named = [s for s in suffixes if s != "gz"]
    fmt = FORMATS.get(named[-1]) if named else None
    if fmt is None:
        raise LoadError(
            f"{name}: unknown file type; name it .parquet, .csv, .json or .ndjson (optionally .gz)"
        )
    return FileKind(fmt, gzipped)


def feed_format_for_key(key: str) -> str | None:
    """The industry format of a landing key ``events/<format>/…`` (``events/dcsa/
    page-1.json``), which goes through that format's importer; None for other keys."""
    parts = key.replace("\\", "/").lstrip("/").split("/")
    if len(parts) < 3 or parts[0] != "events":
        return None
    if parts[1] not in FEED_FORMATS:
        raise LoadError(
            f"{key}: events/{parts[1]}/ names no format shipline reads; use one of"
            f" {', '.join(FEED_FORMATS)}"
        )
    return parts[1]


def table_for_key(key: str) -> str:
    """The table a file feeds: ``<table>/year=YYYY/month=MM/day=DD/<file>`` or a name prefix.

    The prefix is the file name without its date and sequence suffix:
    ``order_items_20251113_001.parquet`` and ``order_items.csv`` both feed
    ``order_items``.
    """
    match = _PARTITIONED.search(key)
    if match:
        table = match.group("table")
    else:
        stem, _ = _strip_suffixes(_base_name(key))
        dated = _DATED_NAME.match(stem)
        table = dated.group("table") if dated else stem
    if not _TABLE_NAME.match(table):
        raise LoadError(
            f"{key}: table name {table!r} is not a plain identifier (letters, digits and"
            " underscores, not starting with a digit); rename the file or its folder"
        )
    return table.lower()


def decompress(
    key: str, data: bytes, kind: FileKind, max_bytes: int = MAX_UNCOMPRESSED_BYTES
) -> bytes | bytearray:
    """The file's bytes without gzip; ``LoadError`` past ``max_bytes`` of them."""
    return decompress_capped(_base_name(key), data, kind.gzipped, max_bytes)


def check_readable(
    key: str, data: bytes, kind: FileKind, max_bytes: int = MAX_UNCOMPRESSED_BYTES
) -> None:
    """``LoadError`` if a file is past the limits: decompressed size, JSON depth."""
    raw = decompress(key, data, kind, max_bytes)
    if kind.format in ("json", "ndjson"):
        check_json_depth(_base_name(key), raw)


def read_table(
    key: str,
    data: bytes,
    kind: FileKind | None = None,
    max_bytes: int = MAX_UNCOMPRESSED_BYTES,
) -> pa.Table:
    """Read a file's bytes into an Arrow table; ``LoadError`` if it cannot be read.

    The file may expand to ``max_bytes`` when decompressed (``LoadError`` past that).
    """
    kind = kind or detect_kind(key, data)
    raw = decompress(key, data, kind, max_bytes)
    name = _base_name(key)
    try:
        if kind.format == "parquet":
            if raw[:4] != _PARQUET_MAGIC or raw[-4:] != _PARQUET_MAGIC:
                raise LoadError(
                    f"{name}: not a Parquet file (no PAR1 magic; truncated or corrupt);"
                    " upload the file again"
                )
            table = pq.read_table(pa.BufferReader(raw))
        elif kind.format == "csv":
            table = pacsv.read_csv(pa.BufferReader(raw))
        else:
            check_json_depth(name, raw)
            table = _read_json(raw)
    except LoadError:
        raise
    except (pa.ArrowException, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise LoadError(
            f"{name}: cannot be read as {kind.format} ({error}); fix or re-export the file"
        ) from error
    if table.num_columns == 0 or table.num_rows == 0:
        raise LoadError(f"{name}: the file has no rows; upload a file with data")
    names = [n.lower() for n in table.column_names]
    if len(set(names)) != len(names):
        raise LoadError(
            f"{name}: column names repeat (case-insensitively): {table.column_names}; rename"
            " the columns"
        )
    return table


def _read_json(raw: bytes | bytearray) -> pa.Table:
    """A JSON array of objects or NDJSON (one object a line), with pyarrow's inference."""
    first = _FIRST_BYTE.match(raw)
    if first is None:
        return pa.table({})
    if first.group(1) == b"[":
        records = json.loads(raw)
        if not all(isinstance(r, dict) for r in records):
            raise ValueError("a JSON array must hold objects only, one record per object")
        if not records:
            return pa.table({})
        raw = "\n".join(json.dumps(r) for r in records).encode()
    return pajson.read_json(pa.BufferReader(raw))
