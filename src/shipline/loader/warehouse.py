"""Warehouse tables: create, evolve the schema, and upsert one file's rows by key.

Every identifier that comes from outside (table and column names) is quoted with
sqlglot; values are parameters. The SQL is DuckDB's, rendered per engine by the
backend; types are compared in ``store.types.canonical``'s spelling, so a column
created on PostgreSQL as ``text`` matches a file's ``VARCHAR``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from shipline.errors import LoadError
from shipline.store import Backend
from shipline.store.types import (
    NULL_TYPE,
    arrow_column_types,
    canonical,
    is_nested,
    portable_type,
    type_of,
)

STAGE = "shipline_loader_stage"
SMALL_FILE_ROWS = 50_000
"""Below this (and on every engine but DuckDB), duplicate keys are found in Arrow
rather than with a query."""

_T = exp.DataType.Type
# Types that widen without loss: a file column of a lower rank fits a table column of a
# higher rank in the same family, and a table column widens to a higher-ranked file type.
_FAMILIES: dict[DType, tuple[str, int]] = {
    _T.TINYINT: ("int", 1),
    _T.UTINYINT: ("int", 1),
    _T.SMALLINT: ("int", 2),
    _T.USMALLINT: ("int", 2),
    _T.INT: ("int", 3),
    _T.UINT: ("int", 3),
    _T.BIGINT: ("int", 4),
    _T.FLOAT: ("float", 1),
    _T.DOUBLE: ("float", 2),
    _T.TIMESTAMP_S: ("timestamp", 1),
    _T.TIMESTAMP_MS: ("timestamp", 2),
    _T.TIMESTAMP: ("timestamp", 3),
    _T.TIMESTAMPNTZ: ("timestamp", 3),
}
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_ (),\[\]]+$")


@lru_cache(maxsize=4096)
def quote(name: str) -> str:
    """A quoted DuckDB identifier for a name from outside."""
    return exp.to_identifier(name, quoted=True).sql("duckdb")


@dataclass(frozen=True)
class UpsertResult:
    """What one upsert did."""

    table: str
    rows: int
    inserted: int
    updated: int
    created: bool
    added_columns: tuple[str, ...]
    widened_columns: tuple[str, ...]
    duplicates_in_file: int


def normalise(table: pa.Table) -> pa.Table:
    """Arrow types DuckDB stores plainly: no dictionaries, µs timestamps, plain strings.

    An all-null column keeps the null type, which fits any table column (and is
    created as VARCHAR).
    """
    fields = []
    changed = False
    for field in table.schema:
        kind = field.type
        target = kind
        if pa.types.is_dictionary(kind):
            target = kind.value_type
        if pa.types.is_large_string(target):
            target = pa.string()
        elif pa.types.is_timestamp(target) and target.unit in ("s", "ms"):
            target = pa.timestamp("us", tz=target.tz)
        changed = changed or target != kind
        fields.append(pa.field(field.name, target, nullable=True))
    if not changed:
        return table
    return table.cast(pa.schema(fields))


def file_columns(backend: Backend, schema: pa.Schema) -> list[tuple[str, str]]:
    """A file's columns and the types the backend's engine gives them, in file order.

    Types are canonical (``store.types.canonical``); on a server engine, DuckDB-only
    types are widened to portable ones, and nested columns are refused.
    """
    found = []
    for field, kind in zip(schema, arrow_column_types(schema), strict=True):
        if not backend.NESTED_TYPES:
            if is_nested(kind):
                raise LoadError(
                    f"column {field.name!r} holds {kind} values, which {backend.DIALECT}"
                    " cannot store; flatten it in the file"
                )
            kind = portable_type(kind)
        found.append((field.name, canonical(kind)))
    return found


def _dedupe_last(data: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, int]:
    """Keep the last row of each key (file order); return the table and rows dropped."""
    position = "__shipline_position"
    numbered = data.append_column(position, pa.array(range(data.num_rows), pa.int64()))
    last = numbered.group_by(list(keys), use_threads=False).aggregate([(position, "max")])
    if last.num_rows == data.num_rows:
        return data, 0
    keep = pc.sort_indices(last.column(f"{position}_max"))
    indices = pc.take(last.column(f"{position}_max"), keep)
    return data.take(indices), data.num_rows - last.num_rows


def _has_duplicate_keys(backend: Backend, data: pa.Table, keys: Sequence[str]) -> bool:
    if data.num_rows < SMALL_FILE_ROWS or not backend.SCANS_ARROW:
        return bool(
            data.select(list(keys)).group_by(list(keys)).aggregate([]).num_rows != data.num_rows
        )
    cols = ", ".join(quote(k) for k in keys)
    distinct = f"({cols})" if len(keys) > 1 else cols
    row = backend.fetchone(f"SELECT count(*), count(DISTINCT {distinct}) FROM {STAGE}")
    return row is not None and row[0] != row[1]


def _family(type_sql: str) -> tuple[str, int] | None:
    kind = type_of(type_sql)
    return None if kind is None else _FAMILIES.get(kind)


def plan_schema(
    table: str,
    existing: dict[str, tuple[str, str]],
    incoming: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Columns to add and columns to widen; ``LoadError`` for an incompatible type."""
    add: list[tuple[str, str]] = []
    widen: list[tuple[str, str]] = []
    for name, file_type in incoming:
        found = existing.get(name.lower())
        if found is None and file_type == NULL_TYPE:
            add.append((name, "VARCHAR"))
            continue
        if found is None:
            if not _SAFE_TYPE.match(file_type):
                raise LoadError(
                    f"column {name!r} has type {file_type} that cannot be added to table"
                    f" {table} automatically; add the column by hand or flatten it in the file"
                )
            add.append((name, file_type))
            continue
        table_name, table_type = found
        if table_type == file_type or file_type == NULL_TYPE:
            continue
        file_family = _family(file_type)
        table_family = _family(table_type)
        if file_family and table_family and file_family[0] == table_family[0]:
            if file_family[1] > table_family[1]:
                widen.append((table_name, file_type))
            continue
        raise LoadError(
            f"column {name!r} is {file_type} in the file but {table_type} in table {table};"
            f" fix the file, or change the column's type in {table} by hand and load again"
        )
    return add, widen


def upsert(
    backend: Backend,
    table: str,
    data: pa.Table,
    keys: Sequence[str],
    before_commit: Callable[[UpsertResult], None] | None = None,
    stage: Callable[[str, pa.Table], None] | None = None,
) -> UpsertResult:
    """Create or evolve ``table`` and upsert ``data`` by ``keys`` (delete + insert).

    Everything, including ``before_commit`` (the ledger row, say), happens in one
    transaction: on any error the table, its schema and the ledger are unchanged.
    ``stage`` makes the file's rows a relation of a given name (``backend.register``
    unless given: on Redshift the loader has the warehouse COPY the file from S3).
    """
    data = normalise(data)
    lowered = {name.lower(): name for name in data.column_names}
    missing = [k for k in keys if k.lower() not in lowered]
    if missing:
        raise LoadError(
            f"key column(s) {', '.join(repr(k) for k in missing)} missing from the file for"
            f" table {table} (key: {', '.join(keys)}); add them to the file or set"
            f" loader_keys for {table}"
        )
    file_keys = [lowered[k.lower()] for k in keys]
    incoming = file_columns(backend, data.schema)
    duplicates = 0
    (stage or backend.register)(STAGE, data)
    try:
        if keys and _has_duplicate_keys(backend, data, file_keys):
            backend.unregister(STAGE)
            data, duplicates = _dedupe_last(data, file_keys)
            backend.register(STAGE, data)
        with backend.transaction():
            result = _upsert_staged(backend, table, incoming, keys, file_keys, data.num_rows)
            result = replace(result, duplicates_in_file=duplicates)
            if before_commit is not None:
                before_commit(result)
    finally:
        backend.unregister(STAGE)
    return result


def _upsert_staged(
    backend: Backend,
    table: str,
    incoming: list[tuple[str, str]],
    keys: Sequence[str],
    file_keys: Sequence[str],
    rows: int,
) -> UpsertResult:
    existing = backend.column_types(table)
    created = not existing
    add: list[tuple[str, str]] = []
    widen: list[tuple[str, str]] = []
    target = quote(table)
    if created:
        # Spelled out, not CREATE TABLE AS ... LIMIT 0: DuckDB 2.0 loses the rows of a
        # multi-row-group INSERT into a table made that way in the same transaction.
        shape = ", ".join(
            f"{quote(name)} {'VARCHAR' if kind == NULL_TYPE else kind}" for name, kind in incoming
        )
        backend.execute(f"CREATE TABLE {target} ({shape})")
        if keys:
            backend.index_for_lookups(table, file_keys)
    else:
        add, widen = plan_schema(table, existing, incoming)
        if widen and not backend.ALTERS_COLUMN_TYPES:
            name, kind = widen[0]
            raise LoadError(
                f"column {name!r} of table {table} would widen to {kind}, which"
                f" {backend.DIALECT} cannot do in place; cast the column in the file to"
                f" {existing[name.lower()][1]} or rebuild the table by hand"
            )
        for name, kind in add:
            backend.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {kind}")
        for name, kind in widen:
            backend.execute(f"ALTER TABLE {target} ALTER COLUMN {quote(name)} SET DATA TYPE {kind}")
    if created or add:
        existing = backend.column_types(table)
    table_keys = [existing[k.lower()][0] for k in keys]
    deleted = replace_by_key(
        backend,
        table,
        STAGE,
        list(zip(table_keys, file_keys, strict=True)),
        [(existing[name.lower()][0], name) for name, _ in incoming],
        # A column with no values in the file is staged as text on server engines: cast it.
        casts={name: existing[name.lower()][1] for name, kind in incoming if kind == NULL_TYPE},
    )
    updated = min(deleted, rows)
    return UpsertResult(
        table=table,
        rows=rows,
        inserted=rows - updated,
        updated=updated,
        created=created,
        added_columns=tuple(name for name, _ in add),
        widened_columns=tuple(name for name, _ in widen),
        duplicates_in_file=0,
    )


def replace_by_key(
    backend: Backend,
    table: str,
    stage: str,
    keys: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    casts: Mapping[str, str] | None = None,
) -> int:
    """Upsert the rows of relation ``stage`` into ``table`` by key: delete + insert.

    ``keys`` and ``columns`` pair a column of ``table`` with the column of ``stage``
    that fills it; ``casts`` gives the type some stage columns are cast to. With no
    keys nothing is deleted. Names are quoted; the caller holds the transaction and
    makes sure no key repeats in ``stage``. Returns the rows deleted.
    """
    target, source = quote(table), quote(stage)
    deleted = 0
    if keys:
        # No aliases: Redshift's DELETE ... USING names its target only by the table.
        condition = " AND ".join(
            f"{target}.{quote(table_key)} = {source}.{quote(stage_key)}"
            for table_key, stage_key in keys
        )
        deleted = backend.execute_count(f"DELETE FROM {target} USING {source} WHERE {condition}")
    casts = casts or {}
    names = ", ".join(quote(table_column) for table_column, _ in columns)
    selected = ", ".join(
        f"CAST({quote(name)} AS {casts[name]})" if name in casts else quote(name)
        for _, name in columns
    )
    backend.execute(f"INSERT INTO {target} ({names}) SELECT {selected} FROM {source}")
    return deleted
