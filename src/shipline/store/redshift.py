"""Redshift: the PostgreSQL path, with Redshift's dialect and its differences.

Redshift speaks PostgreSQL's wire protocol, so the connection is psycopg's, or
AWS's ``redshift_connector`` with ``?driver=redshift_connector`` on the URL (for
IAM authentication, for example; see docs/backends.md). Both run the code below.
What differs from PostgreSQL is rendered or overridden here:

* SQL is rendered in sqlglot's ``redshift`` dialect, plus our rewrites in
  ``store/render.py``: ``epoch_us`` becomes ``DATEDIFF(microsecond, ...)``,
  ``IS DISTINCT FROM`` and ``FILTER`` are spelled out, ``EXCEPT ALL`` becomes
  ``EXCEPT``, INTERVAL columns are ``INTERVAL DAY TO SECOND``.
* Advisory locks do not exist: ``LOCK table`` (held to the end of the transaction)
  takes their place, one table per lock name.
* ``COPY ... FROM STDIN`` does not exist: small Arrow tables go in by multi-row
  INSERT; the loader stages landing files from S3 by ``COPY ... FROM 's3://...'
  IAM_ROLE ...`` (``copy_from_s3``) when ``loader_redshift_iam_role`` is set.
* Not used anywhere, because Redshift lacks them: ``ON CONFLICT``, ``MERGE`` (we
  upsert by delete + insert), sequences and ``RETURNING`` (ids are numbered under a
  lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from shipline.errors import BackendError, ConfigError
from shipline.store.postgres import Connection, PostgresBackend, PsycopgConnection, quote_identifier

INSERT_ROWS = 1_000


def copy_statement(
    table: str, uri: str, file_format: str, gzipped: bool, iam_role: str
) -> str | None:
    """Redshift's ``COPY`` of one S3 object into ``table``, or None for a format it lacks.

    ``iam_role`` is a role ARN, or ``default`` for the namespace's default role.
    Columns are matched by position (Parquet, CSV) or by name (NDJSON), so ``table``
    must have the file's columns in the file's order. A JSON array is not a format
    Redshift's COPY reads; those files are staged by INSERT instead.
    """
    role = "default" if iam_role == "default" else _literal(iam_role)
    source = _literal(uri)
    options = {
        "parquet": "FORMAT AS PARQUET",
        "csv": "FORMAT AS CSV IGNOREHEADER 1 TIMEFORMAT 'auto' DATEFORMAT 'auto'",
        "ndjson": "FORMAT AS JSON 'auto ignorecase' TIMEFORMAT 'auto' DATEFORMAT 'auto'",
    }.get(file_format)
    if options is None:
        return None
    if gzipped and file_format != "parquet":
        options += " GZIP"
    return f"COPY {quote_identifier(table)} FROM {source} IAM_ROLE {role} {options}"


def _literal(value: str) -> str:
    """A string literal as Redshift's QUOTE_LITERAL spells it: quotes and backslashes
    doubled (COPY takes no parameters, and Redshift reads a backslash as an escape)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class RedshiftBackend(PostgresBackend):
    """Redshift, over the PostgreSQL protocol."""

    DIALECT = "redshift"
    ALTERS_COLUMN_TYPES = False  # only a VARCHAR's length can change in place
    SEVERAL_WORKERS = False  # no advisory locks, so no lease to elect a leader with
    LOCK_TABLES: ClassVar[dict[str, str]] = {
        "shipline.timeline": "processing_checkpoints",
        "shipline.ingest": "shipment_events",
        "shipline.dead_letters": "dead_letters",
        "shipline.load_ledger": "load_ledger",
        "shipline.migrate": "schema_migrations",
    }

    def _connect(self, url: str) -> Connection:
        drivers = parse_qs(urlsplit(url).query).get("driver")
        if not drivers:
            return PsycopgConnection(url.replace("redshift://", "postgresql://", 1))
        if drivers != ["redshift_connector"]:
            raise ConfigError(f"unknown driver {drivers[-1]!r} in {url}: use redshift_connector")
        try:
            from shipline.store.redshift_connector_driver import RedshiftConnectorConnection
        except ImportError as error:
            raise ConfigError(
                "driver=redshift_connector needs the redshift_connector package:"
                " pip install 'shipline[redshift]'"
            ) from error
        return RedshiftConnectorConnection(url)

    def index_for_lookups(self, table: str, columns: Sequence[str]) -> None:
        return  # Redshift has no indexes (a sort key would be chosen at CREATE TABLE)

    def lock(self, name: str) -> None:
        table = self.LOCK_TABLES.get(name)
        if table is None:
            raise BackendError(f"no Redshift table stands for the lock {name!r}: add one")
        # Sent as is: LOCK is Redshift's (and PostgreSQL's), not DuckDB's, SQL.
        with self._con.translate_errors():
            self._con.run(f"LOCK {quote_identifier(table)}")

    def hold_lease(self, name: str) -> bool:
        """Always held: Redshift has no advisory locks to elect one process with.

        On Redshift the scheduled duties run once by deployment (the AWS stack's
        schedules), not by several ``serve`` workers; docs/backends.md says so.
        """
        return True

    def copy_from_s3(
        self, name: str, schema: pa.Schema, uri: str, file_format: str, gzipped: bool, iam_role: str
    ) -> bool:
        """Stage an S3 object as a temporary table by COPY; False if its format has no COPY.

        Redshift reads the object itself, in parallel, so this process sends it no
        rows (the loader still reads the file, for its checksum and schema): the bulk
        path of the loader on Redshift.
        """
        statement = copy_statement(name, uri, file_format, gzipped, iam_role)
        if statement is None:
            return False
        self._create_stage(name, schema)
        # Sent as is: COPY ... FROM 's3://' is Redshift's own statement.
        with self._con.translate_errors():
            self._con.run(statement)
        return True

    def register(self, name: str, table: pa.Table) -> None:
        """A temporary table filled by multi-row INSERTs."""
        self._create_stage(name, table.schema)
        width = len(table.schema)
        rows = table.to_pylist()
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start : start + INSERT_ROWS]
            values = ", ".join("(" + ", ".join(["?"] * width) + ")" for _ in chunk)
            params = [row[field] for row in chunk for field in table.schema.names]
            self.execute(f"INSERT INTO {quote_identifier(name)} VALUES {values}", params)
