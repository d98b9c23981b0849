"""JSON (array or NDJSON, optionally gzipped) to Parquet with narrowed types.

Integers narrow to int32 when every value fits (int64 otherwise), low-cardinality
strings are dictionary-encoded, and the file is written with zstd.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipline.errors import LoadError
from shipline.loader.files import FileKind, read_table

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DICTIONARY_MAX_SHARE = 0.5
"""Dictionary-encode a string column when distinct values are at most this share of rows."""


@dataclass(frozen=True)
class Conversion:
    """What a conversion wrote."""

    rows: int
    columns: int
    narrowed: tuple[str, ...]
    dictionary: tuple[str, ...]
    bytes_in: int
    bytes_out: int


def narrow(table: pa.Table) -> tuple[pa.Table, list[str], list[str]]:
    """Narrow int64 columns to int32 where values fit; pick dictionary columns."""
    narrowed: list[str] = []
    dictionary: list[str] = []
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_int64(kind) and column.null_count < len(column):
            low, high = pc.min_max(column).values()
            if low.as_py() >= INT32_MIN and high.as_py() <= INT32_MAX:
                column = column.cast(pa.int32())
                narrowed.append(name)
        elif pa.types.is_string(kind) and len(column):
            distinct = len(pc.unique(column))
            if distinct <= max(1, DICTIONARY_MAX_SHARE * len(column)):
                dictionary.append(name)
        columns.append(column)
    return pa.table(columns, names=table.column_names), narrowed, dictionary


def json_to_parquet(source: Path, target: Path) -> Conversion:
    """Convert one JSON file to Parquet; ``LoadError`` for malformed input."""
    try:
        data = source.read_bytes()
    except OSError as error:
        raise LoadError(f"{source}: cannot be read ({error}); check the path") from error
    gzipped = data[:2] == b"\x1f\x8b"
    table = read_table(source.name, data, FileKind("json", gzipped))
    table, narrowed, dictionary = narrow(table)
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target, compression="zstd", use_dictionary=dictionary or False)
    return Conversion(
        rows=int(table.num_rows),
        columns=int(table.num_columns),
        narrowed=tuple(narrowed),
        dictionary=tuple(dictionary),
        bytes_in=len(data),
        bytes_out=target.stat().st_size,
    )
