"""PostgreSQL: the server backend, for several processes and API workers.

Statements arrive in the DuckDB dialect and are rendered here. Arrow tables are
shipped with COPY (CSV written by pyarrow, so no Python loop per row). Writers
coordinate through transaction-scoped advisory locks.

The backend talks to its driver through ``Connection``, a handful of calls, so
that the Redshift backend can run the same code over ``redshift_connector``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.pq import TransactionStatus

from shipline.errors import BackendError, TransientBackendError
from shipline.store.backend import Backend, Params
from shipline.store.types import engine_column_types


def quote_identifier(name: str) -> str:
    """A double-quoted identifier, safe for any name a file brings."""
    return '"' + name.replace('"', '""') + '"'


LITERAL_PERCENT = re.compile(r"%(?!s)")
CONNECT_TIMEOUT = 10
"""Seconds to wait for a new connection, unless the URL says."""


def escape_percent(statement: str) -> str:
    """A statement with parameters, its literal ``%`` doubled as DB-API's format style asks.

    ``LIKE 'SHP%'`` (a prefix search, for example) would otherwise be read as a
    placeholder by the driver.
    """
    return LITERAL_PERCENT.sub("%%", statement)


class Cursor(Protocol):
    """The part of a DB-API cursor the backend reads."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class Connection(Protocol):
    """A driver's connection, as the PostgreSQL-protocol backends use it.

    Statements run outside a transaction commit at once; ``transaction()`` opens
    one. Parameters are ``%s`` (DB-API's ``format`` style, psycopg's and
    redshift_connector's alike).
    """

    def run(self, statement: str, params: Params = None) -> Cursor:
        """Run one statement (in the engine's dialect) and return its cursor."""
        ...

    def copy_in(self, statement: str, data: bytes) -> None:
        """Run ``COPY ... FROM STDIN`` with ``data`` as its input."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """Commit the block, or roll it back on an error."""
        ...

    def failed(self) -> bool:
        """Whether the open transaction hit an error and accepts nothing but a rollback."""
        ...

    def broken(self) -> bool:
        """Whether the connection is lost (the server restarted, say): only a new one helps."""
        ...

    def translate_errors(self) -> AbstractContextManager[None]:
        """Raise the driver's errors as shipline's ``BackendError``s."""
        ...

    def close(self) -> None: ...


class PsycopgConnection:
    """A psycopg connection in autocommit mode (transactions are explicit)."""

    def __init__(self, url: str) -> None:
        # libpq waits for ever by default; a URL may set its own connect_timeout.
        conninfo = url
        if "connect_timeout" not in url:
            conninfo = psycopg.conninfo.make_conninfo(url, connect_timeout=CONNECT_TIMEOUT)
        try:
            self._con = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as error:
            raise TransientBackendError(f"cannot connect to {url}: {error}") from error

    def run(self, statement: str, params: Params = None) -> psycopg.Cursor[Any]:
        return self._con.cursor().execute(statement.encode(), params)

    def copy_in(self, statement: str, data: bytes) -> None:
        with self._con.cursor().copy(statement.encode()) as copy:
            copy.write(data)

    def transaction(self) -> AbstractContextManager[object]:
        return self._con.transaction()

    def failed(self) -> bool:
        return self._con.info.transaction_status == TransactionStatus.INERROR

    def broken(self) -> bool:
        return self._con.broken or self._con.closed

    def translate_errors(self) -> AbstractContextManager[None]:
        return translate_errors()

    def close(self) -> None:
        self._con.close()


class PostgresBackend(Backend):
    """PostgreSQL, with a connection per thread.

    An API worker serves point queries while its processor holds a long
    transaction (a base run, say): on one shared connection every read would
    queue behind it. Each thread's calls run on its own connection instead, and a
    transaction belongs to the thread that opened it, so the registered (temporary)
    tables a stage stages are seen by that thread's statements only.
    """

    DIALECT = "postgres"
    SEVERAL_WORKERS = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._opened: dict[int, tuple[threading.Thread, Connection]] = {}
        self._opened_lock = threading.Lock()
        self._leases: dict[str, Connection] = {}
        self._lease_lock = threading.Lock()
        self._closed = False
        self._con  # noqa: B018 - connect now, so a bad URL fails at once

    @property
    def _con(self) -> Connection:
        """This thread's connection, opened on first use, and again once it is lost.

        A lost connection inside a transaction is not replaced: the transaction's
        next statement fails (a retryable error) and ends it; the call after that
        reconnects. Threads that live as long as the process (the group commit, the
        processor) so outlast a restart of the server.
        """
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.broken() and not self._local.depth:
            with self._opened_lock:
                self._opened.pop(threading.get_ident(), None)
            connection.close()
            connection = None
        if connection is None:
            if self._closed:
                raise BackendError("this database connection was closed; open a new pipeline")
            connection = self._open()
            self._local.connection = connection
            self._local.depth = 0
            self._keep(connection)
        return connection

    def _open(self) -> Connection:
        """A new connection, set up as every statement expects (UTC)."""
        connection = self._connect(self.url)
        try:
            with connection.translate_errors():
                connection.run("SET TIME ZONE 'UTC'")
        except BaseException:
            connection.close()
            raise
        return connection

    def _keep(self, connection: Connection) -> None:
        """Remember a thread's connection for ``close``; close those of ended threads."""
        with self._opened_lock:
            for ident, (thread, stale) in list(self._opened.items()):
                if not thread.is_alive():
                    del self._opened[ident]
                    stale.close()
            self._opened[threading.get_ident()] = (threading.current_thread(), connection)

    def _connect(self, url: str) -> Connection:
        return PsycopgConnection(url)

    def _run(self, sql: str, params: Params) -> Cursor:
        cursor = None
        for statement in self.render(sql):
            if params and "%s" in statement:
                cursor = self._con.run(escape_percent(statement), params)
            else:
                cursor = self._con.run(statement)
        if cursor is None:
            raise BackendError(f"no statement to run in {sql!r}")
        return cursor

    def execute(self, sql: str, params: Params = None) -> None:
        with self._con.translate_errors():
            self._run(sql, params)

    def execute_count(self, sql: str, params: Params = None) -> int:
        with self._con.translate_errors():
            return max(self._run(sql, params).rowcount, 0)

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        with self._con.translate_errors():
            return [tuple(row) for row in self._run(sql, params).fetchall()]

    def fetch_dicts(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        with self._con.translate_errors():
            cursor = self._run(sql, params)
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetch_arrow(self, sql: str, params: Params = None) -> pa.Table:
        rows = self.fetch_dicts(sql, params)
        return pa.Table.from_pylist(rows)

    def register(self, name: str, table: pa.Table) -> None:
        """A temporary table filled by COPY, standing in for DuckDB's Arrow scan."""
        self._create_stage(name, table.schema)
        buffer = io.BytesIO()
        pacsv.write_csv(
            table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        with self._con.translate_errors():
            self._con.copy_in(
                f"COPY {quote_identifier(name)} FROM STDIN WITH (FORMAT csv)", buffer.getvalue()
            )

    def _create_stage(self, name: str, schema: pa.Schema) -> None:
        """An empty temporary table with the columns of an Arrow schema."""
        try:
            columns = engine_column_types(schema, self.DIALECT)
        except ValueError as error:
            raise BackendError(str(error)) from error
        spelled = ", ".join(f"{quote_identifier(column)} {kind}" for column, kind in columns)
        self.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")
        self.execute(f"CREATE TEMPORARY TABLE {quote_identifier(name)} ({spelled})")

    def unregister(self, name: str) -> None:
        # After a failed statement the transaction accepts nothing until it rolls
        # back (which drops the table anyway); a DROP now would hide the real error.
        if self._con.failed():
            return
        self.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")

    def index_for_lookups(self, table: str, columns: Sequence[str]) -> None:
        name = quote_identifier(f"{table}_lookup"[:63])
        spelled = ", ".join(quote_identifier(column) for column in columns)
        self.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {quote_identifier(table)} ({spelled})")

    def refresh_statistics(self, tables: Sequence[str]) -> None:
        for table in tables:
            self.execute(f"ANALYZE {quote_identifier(table)}")

    def lock(self, name: str) -> None:
        # Advisory locks are database-wide: key them by schema too, so that two
        # shiplines in one database (one schema each) never wait on each other.
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext(?))", [name]
        )

    def hold_lease(self, name: str) -> bool:
        # A session-level advisory lock on a connection of its own: it lasts as long
        # as that connection, so a process that dies hands the lease on. A held lease
        # is checked on every call: if its connection was lost, so was the lock (and
        # another process may have it now).
        with self._lease_lock:
            held = self._leases.get(name)
            if held is not None:
                try:
                    with held.translate_errors():
                        held.run("SELECT 1")
                    return True
                except BackendError:
                    del self._leases[name]
                    held.close()
            connection = self._open()
            try:
                with connection.translate_errors():
                    taken = connection.run(
                        "SELECT pg_try_advisory_lock(hashtext(current_schema()), hashtext(%s))",
                        [name],
                    ).fetchall()[0][0]
            except BaseException:
                connection.close()
                raise
            if not taken:
                connection.close()
                return False
            self._leases[name] = connection
            return True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """This thread's transaction; a block inside another joins it (Redshift has no
        savepoints)."""
        connection = self._con
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        self._local.depth = 1
        try:
            with connection.translate_errors(), connection.transaction():
                yield
        finally:
            self._local.depth = 0

    def close(self) -> None:
        """Close every thread's connection; the backend opens none after this."""
        self._closed = True
        with self._opened_lock, self._lease_lock:
            opened, self._opened = self._opened, {}
            leases, self._leases = self._leases, {}
        for connection in [*(con for _thread, con in opened.values()), *leases.values()]:
            connection.close()
        self._local = threading.local()


@contextmanager
def translate_errors() -> Iterator[None]:
    """psycopg's errors as shipline's: conflicts and outages are worth a retry."""
    try:
        yield
    except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as error:
        raise TransientBackendError(f"transaction conflict: {error}; retry") from error
    except psycopg.OperationalError as error:
        raise TransientBackendError(f"database unavailable: {error}; retry later") from error
    except psycopg.Error as error:
        raise BackendError(str(error)) from error
