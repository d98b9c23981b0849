"""The narrow interface every stage uses to talk to a database.

SQL is written once, in the DuckDB dialect, and rendered for the engine at the
last moment with sqlglot. An engine states how it differs through class flags and
a few overrides, in the manner of SQLMesh's engine adapters.
"""

from __future__ import annotations

import difflib
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, ClassVar

import pyarrow as pa
import sqlglot

from shipline.errors import ConfigError
from shipline.store.render import render
from shipline.store.types import canonical

log = logging.getLogger(__name__)

Params = Sequence[Any] | None


class Backend(ABC):
    """A connection to one database, with the operations the pipeline needs."""

    DIALECT: ClassVar[str]
    """sqlglot's name for the engine's SQL dialect."""

    ALTERS_COLUMN_TYPES: ClassVar[bool] = True
    """Whether ``ALTER COLUMN ... SET DATA TYPE`` can widen a column in place."""

    SEVERAL_WORKERS: ClassVar[bool] = False
    """Whether several ``serve`` workers can share the database: their writers take
    turns, and a lease elects the one that runs the nightly base and the monitor."""

    NESTED_TYPES: ClassVar[bool] = False
    """Whether a column can hold lists and structs (DuckDB's); elsewhere the loader
    refuses them and widens DuckDB-only types to portable ones."""

    SCANS_ARROW: ClassVar[bool] = False
    """Whether ``register`` lets SQL scan an Arrow table in place (DuckDB), so a
    query over a staged file costs no copy; elsewhere a staged file is a table."""

    def render(self, sql: str) -> tuple[str, ...]:
        """Render DuckDB-dialect SQL for this engine, as one or more statements."""
        if self.DIALECT == "duckdb":
            return (sql,)
        return render(sql, self.DIALECT)

    def lock(self, name: str) -> None:
        """Hold a named lock until the current transaction ends.

        Engines with several writer processes override this; the embedded engine
        has one process, whose calls the backend already serialises.
        """
        return

    def hold_lease(self, name: str) -> bool:
        """Whether this backend holds the lease ``name``, taking it if it is free.

        A lease picks one process among several for a duty that must run once (the
        nightly base, the monitor). It is kept until the backend closes or its
        process dies, and then passes to the next that asks. The embedded engine has
        one process, which always holds it.
        """
        return True

    def copy_from_s3(
        self, name: str, schema: pa.Schema, uri: str, file_format: str, gzipped: bool, iam_role: str
    ) -> bool:
        """Stage an S3 object as relation ``name`` by the engine's own bulk read.

        False when the engine (or the object's format) has no such path, and the
        caller stages the rows it read itself. Only Redshift has one (COPY).
        """
        return False

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        """Tell the planner about tables that just changed in bulk.

        A server engine plans point queries from statistics; after the base run
        rewrites millions of rows, stale ones can turn an index lookup into a scan.
        DuckDB keeps its statistics as it writes.
        """
        return

    def index_for_lookups(self, table: str, columns: Sequence[str]) -> None:
        """Make rows of ``table`` quick to find by ``columns`` (a loaded table's key).

        Only engines that find rows by index need it: DuckDB joins by hash and
        Redshift has no indexes, so both do nothing.
        """
        return

    def select_rows_of(self, table: str, key: str, scope: str, into: str) -> None:
        """Copy the rows of ``table`` whose ``key`` is among ``scope``'s into the
        temporary table ``into`` (``scope`` is a relation with a ``key`` column).

        Here one query, for engines whose index on ``key`` finds the rows; an engine
        that finds rows by scanning overrides it. ``delete_rows_of`` removes the same
        rows later in the transaction.
        """
        self.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS"
            f" SELECT * FROM {table} WHERE {key} IN (SELECT {key} FROM {scope})"
        )

    def delete_rows_of(self, table: str, key: str, scope: str, selected: str) -> None:
        """Delete the rows of ``table`` whose ``key`` is among ``scope``'s.

        ``selected`` is what ``select_rows_of`` copied of these same rows earlier in
        the transaction, ``table`` unchanged since; an engine may find them by it.
        """
        self.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {scope})")

    def replace_rows_of(
        self, table: str, key: str, replaced: str | None, rows: str | None, params: Params = None
    ) -> None:
        """Replace the rows of ``table`` whose ``key`` is among ``replaced``'s (a query
        of keys; None: every row) by ``rows`` (a query of whole rows, with ``params``,
        that does not read ``table``; None: no rows, a delete).

        Here a delete and an insert, which the engine's indexes follow row by row; an
        engine whose indexes are costly to update in bulk rewrites the table instead.
        """
        where = "" if replaced is None else f" WHERE {key} IN ({replaced})"
        self.execute(f"DELETE FROM {table}{where}")
        if rows is not None:
            self.execute(f"INSERT INTO {table} {rows}", params)

    def columns_of(self, table: str) -> list[str]:
        """The column names of a table, in order."""
        rows = self.fetchall(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        )
        return [str(row[0]) for row in rows]

    def tables(self) -> list[str]:
        """The tables and views of shipline's own schema, by name."""
        rows = self.fetchall(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        )
        return [str(row[0]) for row in rows]

    def column_types(self, table: str) -> dict[str, tuple[str, str]]:
        """A table's columns: lower-cased name -> (name, canonical type); empty if no table.

        Types are in ``store.types.canonical``'s spelling, so a column reads the same
        on every engine.
        """
        rows = self.fetchall(
            "SELECT column_name, data_type, numeric_precision, numeric_scale"
            " FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        )
        found = {}
        for name, kind, precision, scale in rows:
            spelled = str(kind)
            if spelled.lower() in ("numeric", "decimal") and precision is not None:
                spelled = f"DECIMAL({precision}, {scale or 0})"
            found[str(name).lower()] = (str(name), canonical(spelled, self.DIALECT))
        return found

    @abstractmethod
    def execute(self, sql: str, params: Params = None) -> None:
        """Run one statement and discard its result."""

    @abstractmethod
    def execute_count(self, sql: str, params: Params = None) -> int:
        """Run one statement that changes rows; return how many it changed."""

    @abstractmethod
    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""

    @abstractmethod
    def fetch_arrow(self, sql: str, params: Params = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as a relation called ``name``."""

    @abstractmethod
    def unregister(self, name: str) -> None:
        """Forget a relation made by ``register``."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside the block at once, or nothing on an error."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        """Run a query and return its first row, if any."""
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = None) -> Any:
        """Run a query and return the first column of its first row."""
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def fetch_dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dictionaries."""
        return list(self.fetch_arrow(sql, params).to_pylist())

    def migrate(self) -> list[str]:
        """Apply every migration not applied yet, in order; return their names."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
        )
        done = []
        with self.transaction():
            self.lock("shipline.migrate")
            applied = {row[0] for row in self.fetchall("SELECT version FROM schema_migrations")}
        for version, name, script in _migrations():
            if version in applied:
                continue
            with self.transaction():
                self.lock("shipline.migrate")
                if self.fetchone("SELECT 1 FROM schema_migrations WHERE version = ?", [version]):
                    continue  # another process applied it while we waited
                if _applies_to(script, self.DIALECT):
                    for statement in sqlglot.parse(script, read="duckdb"):
                        if statement is not None:
                            self.execute(statement.sql(dialect="duckdb"))
                self.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [version, name],
                )
            log.info("applied migration %s", name)
            done.append(name)
        return done


def owned_tables() -> frozenset[str]:
    """Every table shipline's migrations create, on any engine."""
    return frozenset(
        name.lower()
        for _, _, script in _migrations()
        for name in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", script, flags=re.IGNORECASE)
    ) | {"schema_migrations"}


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("shipline.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(found)


def _applies_to(script: str, dialect: str) -> bool:
    """A migration may start with ``-- engines: postgres, redshift`` to name its engines."""
    first = script.lstrip().splitlines()[0] if script.strip() else ""
    if not first.startswith("-- engines:"):
        return True
    return dialect in {name.strip() for name in first.split(":", 1)[1].split(",")}


SERVER_SCHEMES = ("postgresql://", "postgres://", "redshift://")
"""The URL schemes of the server engines; anything else is a DuckDB file path."""

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def open_backend(
    database: str, *, create: bool = True, duckdb_memory_limit: str | None = None
) -> Backend:
    """Open the backend a database URL or path names; DuckDB for a plain path.

    ``create`` lets a DuckDB path where nothing is yet become a new database; without
    it such a path is a ``ConfigError``, so that a mistyped name is not an empty
    database. A URL of an engine shipline has no backend for is refused either way.
    """
    if database.startswith("redshift://"):
        from shipline.store.redshift import RedshiftBackend

        return RedshiftBackend(database)
    if database.startswith(("postgresql://", "postgres://")):
        from shipline.store.postgres import PostgresBackend

        return PostgresBackend(database)
    if _URL.match(database):
        raise _unknown_scheme(database)
    if not database.strip():
        # DuckDB would open "" as a database in memory, gone when the process ends.
        raise ConfigError(
            "database is empty; name a DuckDB file, a postgresql:// or a redshift:// URL"
        )
    from shipline.store.duckdb import DuckDBBackend

    return DuckDBBackend(database, create=create, memory_limit=duckdb_memory_limit)


def is_new_database(database: str) -> bool:
    """Whether ``open_backend(database, create=True)`` would make a new DuckDB database."""
    if database.startswith(SERVER_SCHEMES) or _URL.match(database):
        return False
    from shipline.store.duckdb import is_new_database as is_new_file

    return is_new_file(database)


def _unknown_scheme(database: str) -> ConfigError:
    # Only the scheme is repeated: the rest of a URL may hold a password.
    scheme = database.split("://", 1)[0] + "://"
    close = difflib.get_close_matches(scheme.lower(), SERVER_SCHEMES, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(
        f"database {scheme}...: shipline has no backend for {scheme} URLs{hint}; use a"
        " DuckDB file path, a postgresql:// (or postgres://) URL or a redshift:// URL"
    )
