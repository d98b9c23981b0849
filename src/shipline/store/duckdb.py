"""The embedded default: one DuckDB file, owned by one process."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import duckdb
import pyarrow as pa

from shipline.errors import BackendError, ConfigError, TransientBackendError
from shipline.store.backend import Backend, Params

IN_MEMORY = ":memory:"

MAGIC = b"DUCK"
MAGIC_OFFSET = 8
"""Every DuckDB database file has ``DUCK`` here, after an 8-byte checksum."""


class DuckDBBackend(Backend):
    """A DuckDB file. Writes are serialised by a lock: one connection, one writer.

    A query (SELECT) that finds the lock held by another thread does not wait for
    it: it reads the last committed state through its thread's own connection to
    the same database, so a point query is not stuck behind a 30 s base run. Names
    that belong to the writer's connection (temporary tables, registered Arrow
    tables) are not there; such a query waits for the lock after all.
    """

    DIALECT = "duckdb"
    NESTED_TYPES = True
    SCANS_ARROW = True

    def __init__(self, path: str, *, create: bool = True, memory_limit: str | None = None) -> None:
        """Open the DuckDB file at ``path``; make a new one there only when ``create``.
        ``memory_limit`` caps DuckDB's memory (``"3GB"``); unset, DuckDB's default.

        A file that is not a DuckDB database is refused whatever ``create`` says:
        DuckDB would otherwise report it as a lock held by another process.
        """
        self.path = path
        new_file = is_new_database(path) and path != IN_MEMORY
        if is_new_database(path):
            if not create:
                raise _not_there(path)
            if path != IN_MEMORY:
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            _require_database_file(Path(path))
        self._con = _connect(path, memory_limit)
        if new_file:
            os.chmod(path, 0o600)  # the owner's data; DuckDB makes it as the umask says
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        self._lock = threading.RLock()
        self._depth = 0
        self._readers = threading.local()
        self._readers_lock = threading.Lock()
        self._reader_connections: list[duckdb.DuckDBPyConnection] = []

    def execute(self, sql: str, params: Params = None) -> None:
        with self._lock, _translate_errors():
            self._con.execute(sql, params)

    def execute_count(self, sql: str, params: Params = None) -> int:
        with self._lock, _translate_errors():
            row = self._con.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        return self._query(sql, lambda con: con.execute(sql, params).fetchall())

    def fetch_arrow(self, sql: str, params: Params = None) -> pa.Table:
        return self._query(sql, lambda con: con.sql(sql, params=params).to_arrow_table())

    def fetch_dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        def rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            cursor = con.execute(sql, params)
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._query(sql, rows)

    def _query(self, sql: str, read: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``read`` on the writer's connection when the lock is free (or this thread's);
        a query that would wait for another thread's transaction reads beside it."""
        if self._lock.acquire(blocking=False):
            try:
                with _translate_errors():
                    return read(self._con)
            finally:
                self._lock.release()
        if _QUERY.match(sql):
            try:
                with _translate_errors():
                    return read(self._reader())
            except BackendError as error:
                if not isinstance(error.__cause__, duckdb.CatalogException):
                    raise
        with self._lock, _translate_errors():
            return read(self._con)

    def _reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database, for queries beside a writer."""
        reader: duckdb.DuckDBPyConnection | None = getattr(self._readers, "connection", None)
        if reader is None:
            # A cursor is a new connection to the same database; making one does not
            # wait for the writer's statement.
            with self._readers_lock:
                reader = self._con.cursor()
                self._reader_connections.append(reader)
            reader.execute("SET TimeZone = 'UTC'")
            # An unknown name must not be looked up among the caller's Python variables.
            reader.execute("SET python_enable_replacements = false")
            self._readers.connection = reader
        return reader

    def select_rows_of(self, table: str, key: str, scope: str, into: str) -> None:
        """``Backend.select_rows_of`` by ``rowid``: DuckDB finds rows by scanning, so
        the rows are found reading one column (``key``), then fetched by their rowids,
        which ``into`` keeps (as ``source_rowid``) for ``delete_rows_of``. A wide scan
        of a table that grows with the store would cost every call."""
        rowids = f"{into}_rowids"
        self.execute(
            f"CREATE OR REPLACE TEMP TABLE {rowids} AS SELECT rowid AS source_rowid"
            f" FROM {table} WHERE {key} IN (SELECT {key} FROM {scope})"
        )
        self.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT rowid AS source_rowid, *"
            f" FROM {table} WHERE rowid IN (SELECT source_rowid FROM {rowids})"
        )
        self.execute(f"DROP TABLE {rowids}")

    def delete_rows_of(self, table: str, key: str, scope: str, selected: str) -> None:
        """``Backend.delete_rows_of`` by the rowids ``select_rows_of`` kept."""
        self.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT source_rowid FROM {selected})")

    REWRITE_SHARE: ClassVar[float] = 0.05
    """The share of an indexed table's rows (deleted and inserted) above which
    ``replace_rows_of`` rewrites the table: at 10M rows an index costs about 11 µs
    per row deleted and inserted at commit, a rewrite about 0.45 µs per row of the
    whole table."""

    def replace_rows_of(
        self, table: str, key: str, replaced: str | None, rows: str | None, params: Params = None
    ) -> None:
        """``Backend.replace_rows_of``, rewriting an indexed table when many rows change.

        DuckDB updates an index at commit row by row: a base that deleted and
        re-inserted 10M indexed rows took 90 s to commit, against 3 s to index the
        rows afresh. So the new rows go into a new table of the same definition;
        when they and the rows they replace are more than ``REWRITE_SHARE`` of the
        table, the rows kept join them there and the new table takes the old one's
        name and indexes, in one transaction (the caller's, if it has one; readers
        beside it keep the old table until it commits). Otherwise they replace the
        old rows in place. Table and column comments are not carried over.
        """
        with self.transaction():
            created, indexes = self._definition(table)
            if not indexes:
                super().replace_rows_of(table, key, replaced, rows, params)
                return
            fresh = f"{table}__rewritten"
            self.execute(created.replace(f"CREATE TABLE {table}(", f"CREATE TABLE {fresh}(", 1))
            if rows is not None:
                self.execute(f"INSERT INTO {fresh} {rows}", params)
            if replaced is not None and not self._many_change(table, key, replaced, fresh):
                super().replace_rows_of(table, key, replaced, f"SELECT * FROM {fresh}")
                self.execute(f"DROP TABLE {fresh}")
                return
            if replaced is not None:
                self.execute(
                    f"INSERT INTO {fresh} SELECT * FROM {table} AS kept WHERE NOT EXISTS"
                    f" (SELECT 1 FROM ({replaced}) AS r({key}) WHERE r.{key} = kept.{key})"
                )
            self.execute(f"DROP TABLE {table}")
            self.execute(f"ALTER TABLE {fresh} RENAME TO {table}")
            for index in indexes:
                self.execute(index)

    def _many_change(self, table: str, key: str, replaced: str, fresh: str) -> bool:
        """Whether the rows ``fresh`` holds and those ``replaced`` names are more than
        ``REWRITE_SHARE`` of ``table``'s (the deleted ones counted only if needed)."""
        enough = self.REWRITE_SHARE * int(self.scalar(f"SELECT count(*) FROM {table}"))
        changed = int(self.scalar(f"SELECT count(*) FROM {fresh}"))
        if changed < enough:
            changed += int(self.scalar(f"SELECT count(*) FROM {table} WHERE {key} IN ({replaced})"))
        return changed >= enough

    def _definition(self, table: str) -> tuple[str, list[str]]:
        """The CREATE TABLE of one of the database's own tables, and its CREATE INDEXes."""
        found = self.fetchone(
            "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND NOT temporary"
            " AND database_name = current_database() AND schema_name = current_schema()",
            [table],
        )
        if found is None or not str(found[0]).startswith(f"CREATE TABLE {table}("):
            raise BackendError(f"cannot rewrite table {table!r}: its definition was not found")
        indexes = self.fetchall(
            "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND NOT is_primary"
            " AND database_name = current_database() AND schema_name = current_schema()",
            [table],
        )
        return str(found[0]), [str(row[0]) for row in indexes]

    def register(self, name: str, table: pa.Table) -> None:
        with self._lock:
            self._con.register(name, table)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._con.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._con.execute("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._con.execute("ROLLBACK")
                raise
            self._depth = 0
            with _translate_errors():
                self._con.execute("COMMIT")

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for reader in self._reader_connections:
                reader.close()
            self._con.close()


_QUERY = re.compile(r"\s*(/\*.*?\*/\s*|--[^\n]*\s*)*(SELECT|WITH)\b", re.IGNORECASE | re.DOTALL)
"""A statement that only reads: what may run beside the writer."""

T = TypeVar("T")


def is_new_database(path: str) -> bool:
    """Whether opening ``path`` makes a new database: nothing is there yet, or ``:memory:``."""
    return path == IN_MEMORY or not os.path.lexists(path)


def _not_there(path: str) -> ConfigError:
    if path == IN_MEMORY:
        return ConfigError(
            f"{IN_MEMORY} is a new, empty database that is gone when the command ends;"
            " name a DuckDB file (`shipline init` creates one) or a postgresql:// URL"
        )
    return ConfigError(f"no database at {path}: run `shipline init` or set `database`")


def _require_database_file(path: Path) -> None:
    """Refuse anything at ``path`` but a DuckDB database: a typo must not open as one."""
    if path.is_dir():
        raise ConfigError(
            f"{path} is a folder, not a DuckDB database; name a file inside it"
            f" (e.g. {path / 'shipline.duckdb'}) or a postgresql:// URL"
        )
    try:
        with path.open("rb") as file:
            header = file.read(MAGIC_OFFSET + len(MAGIC))
    except OSError as error:
        raise ConfigError(f"cannot read the database {path}: {error.strerror}") from error
    if header[MAGIC_OFFSET:] != MAGIC:
        raise ConfigError(
            f"{path} is not a DuckDB database ({_what(header)}); name a DuckDB file"
            " or a postgresql:// URL"
        )


DEFAULT_MEMORY_LIMIT_BYTES = 3 * 1024**3
"""What DuckDB may use unless ``duckdb_memory_limit`` says otherwise: 3 GiB, or
DuckDB's own default (80% of the machine's memory) where that is less. DuckDB's
default fills most of a large machine with its cache of the tables a command read
(``verify --all`` of 10M events peaked at 7.8 GiB); under 3 GiB it takes as long."""


def default_memory_limit() -> str | None:
    """The memory limit a database opens with when none is set (None: DuckDB's own)."""
    try:
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        machine = None  # unknown: the cap is the safer guess
    if machine is not None and machine * 0.8 <= DEFAULT_MEMORY_LIMIT_BYTES:
        return None
    return f"{DEFAULT_MEMORY_LIMIT_BYTES // 1024**2}MiB"


def _connect(path: str, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``; a lock held elsewhere is transient, a damaged file is not."""
    config: dict[str, str | bool | int | float | list[str]] = {}
    limit = memory_limit.strip() if memory_limit is not None else default_memory_limit()
    if limit is not None:
        config["memory_limit"] = limit
    try:
        return duckdb.connect(path, config=config)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise _corrupt(path, error) from error
        raise TransientBackendError(
            f"cannot open {path}: {error}. Another process may hold it; stop it or use its API"
        ) from error
    except duckdb.Error as error:
        raise _corrupt(path, error) from error


def _corrupt(path: str, error: duckdb.Error) -> BackendError:
    return BackendError(
        f"the database {path} is corrupt or truncated ({error}); restore it from a backup,"
        " or move it aside and run `shipline init` to start a new one"
    )


def _what(header: bytes) -> str:
    if not header:
        return "it is empty"
    if header.startswith(b"PAR1"):
        return "it is a Parquet file"
    return "its header has no DUCK signature"


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None  # Ctrl-C in a query: the CLI says what it undid
    except duckdb.TransactionException as error:
        raise TransientBackendError(f"transaction conflict: {error}; retry") from error
    except duckdb.IOException as error:
        raise TransientBackendError(f"storage unavailable: {error}; retry later") from error
    except duckdb.Error as error:
        raise BackendError(str(error)) from error
