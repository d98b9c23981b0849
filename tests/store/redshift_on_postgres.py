"""Redshift's SQL, executed by PostgreSQL: the backend the Redshift tests run on.

No Redshift runs here. ``RedshiftOnPostgres`` is the Redshift backend, every
statement rendered in Redshift's dialect, connected to PostgreSQL, which accepts
all of it but a few spellings of Redshift's built-ins: ``DATEDIFF(microsecond, a,
b)`` and ``GETDATE()`` are emulated by SQL functions of the same meaning, and
``VARCHAR(MAX)`` is read as ``VARCHAR``. It keeps every statement its driver is
sent (rendered or sent as is, such as ``LOCK``), as Redshift would receive it.

``POSTGRES_ONLY`` lists what PostgreSQL accepts and Redshift does not; no statement
sent to Redshift may contain one (``postgres_only``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlglot
from sqlglot import exp

from shipline.store.backend import Params
from shipline.store.postgres import Connection, Cursor
from shipline.store.redshift import RedshiftBackend
from tests.store.startup_proxy import StartupProxy, redshift_connector_url, schema_of

DRIVERS = ("psycopg", "redshift_connector")

EMULATED_BUILTINS = """
CREATE OR REPLACE FUNCTION datediff(part TEXT, a TIMESTAMPTZ, b TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE SQL IMMUTABLE AS $$
    SELECT CAST(EXTRACT(EPOCH FROM b) * 1000000 - EXTRACT(EPOCH FROM a) * 1000000 AS BIGINT)
$$;
CREATE OR REPLACE FUNCTION getdate() RETURNS TIMESTAMPTZ LANGUAGE SQL AS $$ SELECT now() $$
"""


TABLE_KEYS = re.compile(r" DISTSTYLE KEY DISTKEY\(\w+\) COMPOUND SORTKEY\([\w, ]+\)")
"""A table's distribution and sort keys, which PostgreSQL has no words for (and which
change where rows are stored, not what a query returns)."""


def emulated(statement: str) -> str:
    """A Redshift statement in the spelling PostgreSQL (with ``EMULATED_BUILTINS``) reads."""
    spelled = statement.replace("DATEDIFF(microsecond,", "datediff('microsecond',")
    return TABLE_KEYS.sub("", spelled.replace("VARCHAR(MAX)", "VARCHAR"))


class RecordingConnection:
    """A driver connection that keeps each statement it is sent, then runs it emulated."""

    def __init__(self, inner: Connection, statements: list[str]) -> None:
        self.inner = inner
        self.statements = statements

    def run(self, statement: str, params: Params = None) -> Cursor:
        self.statements.append(statement)
        return self.inner.run(emulated(statement), params)

    def copy_in(self, statement: str, data: bytes) -> None:
        self.statements.append(statement)
        self.inner.copy_in(statement, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # transaction, failed, translate_errors, close


class RedshiftOnPostgres(RedshiftBackend):
    """The Redshift backend on a PostgreSQL database; ``statements`` is all it sent.

    ``schema`` is set as the search path of every connection it opens (over
    redshift_connector, which has no ``options`` to set it with in the URL).
    """

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.statements: list[str] = []
        self._schema = schema
        super().__init__(url)

    def _connect(self, url: str) -> Connection:
        connection = super()._connect(url)
        if self._schema is not None:
            with connection.translate_errors():
                connection.run(f'SET search_path TO "{self._schema}"')
        return RecordingConnection(connection, self.statements)


def redshift_on_postgres(
    database: str, driver: str, proxy: StartupProxy | None = None
) -> RedshiftOnPostgres:
    """A Redshift backend on a ``tests.engines.fresh_database`` PostgreSQL database.

    Over redshift_connector it connects through ``proxy`` (the driver's startup
    message names Redshift-only settings that PostgreSQL refuses).
    """
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(EMULATED_BUILTINS.encode())  # in the test's schema, first on its path
    if driver == "psycopg":
        return RedshiftOnPostgres(database)
    assert proxy is not None, "redshift_connector reaches PostgreSQL through the proxy"
    return RedshiftOnPostgres(redshift_connector_url(database, proxy), schema_of(database))


def event(
    shipment: str, at: str, kind: str, location: str | None = None, **extra: str
) -> dict[str, str | None]:
    """An event record as a source sends it."""
    return {
        "shipment_id": shipment,
        "event_timestamp": at,
        "event_type": kind,
        "location_id": location,
        **extra,
    }


@dataclass(frozen=True)
class Construct:
    """Something PostgreSQL accepts and Redshift does not, and why it must not be sent."""

    name: str
    why: str
    found: Callable[[str], bool]


def matching(pattern: str, unless: str | None = None) -> Callable[[str], bool]:
    """Found when ``pattern`` occurs (case-insensitive) outside comments and string
    literals, in a statement where ``unless`` does not occur."""
    wanted = re.compile(pattern, re.IGNORECASE)
    excused = re.compile(unless, re.IGNORECASE) if unless else None

    def found(statement: str) -> bool:
        code = _code_of(statement)
        return bool(wanted.search(code)) and not (excused and excused.search(code))

    return found


_COMMENTS_AND_LITERALS = re.compile(r"/\*.*?\*/|--[^\n]*|'(?:[^']|'')*'", re.DOTALL)


def _code_of(statement: str) -> str:
    return _COMMENTS_AND_LITERALS.sub(
        lambda m: "''" if m.group().startswith("'") else " ", statement
    )


# Window functions that Redshift lets go without a frame when ordered: ranking and
# navigation. Every other one (aggregates, FIRST_VALUE, LAST_VALUE, NTH_VALUE) needs
# an explicit ROWS frame once it has an ORDER BY.
_FRAMELESS = (
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile, exp.PercentRank, exp.CumeDist,
    exp.Lag, exp.Lead,
)  # fmt: skip


def _ordered_window_without_frame(statement: str) -> bool:
    if " OVER " not in statement.upper():
        return False
    tree = sqlglot.parse_one(statement, read="redshift")
    return any(
        window.args.get("order") is not None
        and window.args.get("spec") is None
        and not isinstance(window.this, _FRAMELESS)
        for window in tree.find_all(exp.Window)
    )


POSTGRES_ONLY: tuple[Construct, ...] = (
    Construct(
        "ON CONFLICT",
        "PostgreSQL's upsert; Redshift has none (we upsert by delete + insert)",
        matching(r"\bON\s+CONFLICT\b"),
    ),
    Construct(
        "MERGE",
        "Redshift's MERGE (2023) is not PostgreSQL's: no DO NOTHING, no RETURNING,"
        " one matching source row per target row; we upsert by delete + insert",
        matching(r"\bMERGE\s+INTO\b"),
    ),
    Construct(
        "RETURNING",
        "Redshift's INSERT, UPDATE and DELETE return no rows (ids are max + n under a lock)",
        matching(r"\bRETURNING\b"),
    ),
    Construct(
        "advisory locks",
        "no pg_advisory_* functions on Redshift; LOCK table takes their place",
        matching(r"\bpg_advisory"),
    ),
    Construct(
        "FILTER (WHERE",
        "no aggregate FILTER clause on Redshift; agg(CASE WHEN c THEN x END) instead",
        matching(r"\bFILTER\s*\(\s*WHERE\b"),
    ),
    Construct(
        "IS DISTINCT FROM",
        "not in Redshift's grammar; NOT (a = b OR (a IS NULL AND b IS NULL)) instead",
        matching(r"\bIS\s+(NOT\s+)?DISTINCT\s+FROM\b"),
    ),
    Construct(
        "identity and generated columns",
        "GENERATED ... AS IDENTITY / STORED are PostgreSQL's; Redshift's IDENTITY numbers"
        " rows neither contiguously nor in commit order",
        matching(r"\bGENERATED\s+(ALWAYS|BY\s+DEFAULT)\b|\bIDENTITY\s*\("),
    ),
    Construct(
        "SERIAL",
        "PostgreSQL's pseudo-types over a sequence; Redshift has neither",
        matching(r"\b(SMALL|BIG)?SERIAL\b"),
    ),
    Construct(
        "sequences",
        "Redshift has no sequences (nextval, currval, setval, CREATE SEQUENCE)",
        matching(r"\b(nextval|currval|setval)\s*\(|\bCREATE\s+SEQUENCE\b"),
    ),
    Construct(
        "JSONB",
        "no JSON or JSONB type on Redshift (SUPER is its own); JSON is kept as text",
        matching(r"\bJSONB\b|::\s*JSONB?\b|\bAS\s+JSONB?\s*\)"),
    ),
    Construct(
        "arrays",
        "no ARRAY type or ARRAY[...] literal on Redshift (nor = ANY(array) parameters)",
        matching(r"\bARRAY\s*\[|\bARRAY\s*\(|\[\]"),
    ),
    Construct(
        "generate_series",
        "runs on Redshift's leader node only: an error once the query reads a table",
        matching(r"\bgenerate_series\s*\("),
    ),
    Construct(
        "COPY FROM STDIN",
        "Redshift's COPY reads S3 (and a few AWS sources), never the client connection",
        matching(r"\bCOPY\b[^;]*\bFROM\s+STDIN\b"),
    ),
    Construct(
        "EXCEPT ALL / INTERSECT ALL",
        "Redshift's set operations other than UNION are DISTINCT only",
        matching(r"\b(EXCEPT|INTERSECT|MINUS)\s+ALL\b"),
    ),
    Construct(
        "bare INTERVAL type",
        "Redshift's interval columns and casts are INTERVAL DAY TO SECOND or"
        " INTERVAL YEAR TO MONTH; a bare INTERVAL is a literal's keyword only",
        matching(r"\bINTERVAL\b(?!\s*(DAY\s+TO\s+SECOND|YEAR\s+TO\s+MONTH|''|%s))"),
    ),
    Construct(
        "LATERAL",
        "no LATERAL joins on Redshift",
        matching(r"\bLATERAL\b"),
    ),
    Construct(
        "DISTINCT ON",
        "PostgreSQL's; on Redshift, ROW_NUMBER() OVER (...) = 1",
        matching(r"\bDISTINCT\s+ON\s*\("),
    ),
    Construct(
        "EXTRACT(EPOCH",
        "epoch_us must be exact integer microseconds; on Redshift it is"
        " DATEDIFF(microsecond, ...), not epoch seconds as a double",
        matching(r"\bEXTRACT\s*\(\s*EPOCH\b"),
    ),
    Construct(
        "DIV(",
        "PostgreSQL's integer division function; Redshift's / of integers is integral",
        matching(r"\bDIV\s*\("),
    ),
    Construct(
        "WINDOW clause",
        "no named windows on Redshift (WINDOW w AS ...); each OVER spells its window",
        matching(r"\bWINDOW\s+\w+\s+AS\s*\("),
    ),
    Construct(
        "VALUES as a table",
        "Redshift has VALUES only in INSERT; a derived table is SELECT ... UNION ALL",
        matching(r"\(\s*VALUES\s*\("),
    ),
    Construct(
        "functions of PostgreSQL's with no Redshift equivalent",
        "string_agg, array_agg and unnest do not exist on Redshift (LISTAGG is its own)",
        matching(r"\b(string_agg|array_agg|unnest)\s*\("),
    ),
    Construct(
        "leader-node-only date functions",
        "NOW(), CURRENT_TIMESTAMP, LOCALTIME(STAMP) and AGE are deprecated leader-node"
        " functions on Redshift, errors once a query reads a table; GETDATE() instead",
        matching(r"\bNOW\s*\(|\bCURRENT_TIMESTAMP\b|\bLOCALTIME(STAMP)?\b|\bAGE\s*\("),
    ),
    Construct(
        "CURRENT_SCHEMA on a user table",
        "leader-node only on Redshift: fine against the catalog (information_schema),"
        " an error in a query that reads shipline's tables",
        matching(r"\bCURRENT_SCHEMA\b", unless=r"\binformation_schema\.|\bpg_catalog\."),
    ),
    Construct(
        "indexes",
        "Redshift has no indexes (sort and distribution keys instead)",
        matching(r"\bCREATE\s+(UNIQUE\s+)?INDEX\b"),
    ),
    Construct(
        "TRUNCATE",
        "commits the open transaction on Redshift, so a run would not be atomic",
        matching(r"^\s*TRUNCATE\b"),
    ),
    Construct(
        "savepoints",
        "Redshift has no SAVEPOINT (a nested block joins its transaction)",
        matching(r"\b(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO)\b"),
    ),
    Construct(
        "ON COMMIT",
        "Redshift's temporary tables have no ON COMMIT DROP / DELETE ROWS",
        matching(r"\bON\s+COMMIT\b"),
    ),
    Construct(
        "ordered window without a frame",
        "Redshift requires a ROWS frame on an aggregate, FIRST_VALUE, LAST_VALUE or"
        " NTH_VALUE window with an ORDER BY (PostgreSQL defaults to RANGE ... CURRENT ROW)",
        _ordered_window_without_frame,
    ),
)


def postgres_only(
    statements: Iterable[str], constructs: Sequence[Construct] | None = None
) -> list[tuple[str, str]]:
    """``(construct, statement)`` for each construct found in a statement, deduplicated
    (all of ``POSTGRES_ONLY`` unless ``constructs`` are named)."""
    chosen = POSTGRES_ONLY if constructs is None else constructs
    return [
        (construct.name, statement)
        for statement in dict.fromkeys(statements)
        for construct in chosen
        if construct.found(statement)
    ]
