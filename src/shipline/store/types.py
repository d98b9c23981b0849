"""Column types across engines: what an Arrow column is called, and when two names agree.

Types are spelled as DuckDB spells them, the dialect shipline's SQL is written in;
a backend renders them for its engine like any other SQL. DuckDB itself names the
type of each Arrow column, so the loader and the staging tables of every engine
agree with the embedded engine. Server engines lack a few of DuckDB's types;
``portable_type`` widens those to one they have.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.expressions.datatypes import DType

NULL_TYPE = '"NULL"'
"""DuckDB's name for an Arrow column with no values at all: it fits any column."""

_STRINGS = frozenset(
    {
        exp.DataType.Type.TEXT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.NVARCHAR,
        exp.DataType.Type.CHAR,
        exp.DataType.Type.NCHAR,
        exp.DataType.Type.BPCHAR,
    }
)

# DuckDB types that PostgreSQL and Redshift lack, and the nearest type that holds every value.
_PORTABLE: dict[str, str] = {
    "UTINYINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "UINTEGER": "BIGINT",
    "UBIGINT": "DECIMAL(20, 0)",
    "HUGEINT": "DECIMAL(38, 0)",
    "UHUGEINT": "DECIMAL(38, 0)",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMPTZ_NS": "TIMESTAMPTZ",  # pyarrow's timestamp[ns, tz]; microseconds elsewhere
}
_NESTED = ("[]", "STRUCT(", "MAP(", "UNION(")


@lru_cache(maxsize=1024)
def arrow_column_types(schema: pa.Schema) -> tuple[str, ...]:
    """The DuckDB type of each column of an Arrow schema, in order."""
    with duckdb.connect() as con:
        return tuple(str(kind) for kind in con.from_arrow(schema.empty_table()).types)


def is_nested(duckdb_type: str) -> bool:
    """Whether a type holds lists, structs or maps, which only DuckDB stores."""
    return any(mark in duckdb_type for mark in _NESTED) or duckdb_type.endswith("]")


def portable_type(duckdb_type: str) -> str:
    """A type every server engine has, holding every value of ``duckdb_type``."""
    return _PORTABLE.get(duckdb_type, duckdb_type)


def canonical(type_sql: str, dialect: str = "duckdb") -> str:
    """One spelling per type, to compare a table's column with a file's.

    ``character varying(256)`` on Redshift, ``text`` on PostgreSQL and ``VARCHAR`` on
    DuckDB are all one string type; ``integer`` and ``INTEGER`` are one integer.
    """
    if type_sql == NULL_TYPE:
        return NULL_TYPE
    try:
        parsed = exp.DataType.build(type_sql, dialect=dialect)
    except (ParseError, ValueError):
        return type_sql.upper()
    if parsed.this in _STRINGS:
        return "VARCHAR"
    return parsed.sql("duckdb")


def type_of(type_sql: str) -> DType | None:
    """The kind of a canonical type (``canonical``'s result), for widening rules."""
    if type_sql == NULL_TYPE:
        return None
    try:
        kind = exp.DataType.build(type_sql, dialect="duckdb").this
    except (ParseError, ValueError):
        return None
    return kind if isinstance(kind, DType) else None


def engine_column_types(schema: pa.Schema, dialect: str) -> list[tuple[str, str]]:
    """Each column's name and a type ``dialect`` has (spelled as DuckDB spells it).

    Raises ``ValueError`` naming the first nested column, which only DuckDB stores.
    """
    found = []
    for field, kind in zip(schema, arrow_column_types(schema), strict=True):
        if dialect != "duckdb" and is_nested(kind):
            raise ValueError(
                f"column {field.name!r} holds {kind} values, which {dialect} cannot store;"
                " flatten it in the file"
            )
        portable = kind if dialect == "duckdb" else portable_type(kind)
        if portable == NULL_TYPE:
            portable = "VARCHAR"
        found.append((field.name, portable))
    return found
