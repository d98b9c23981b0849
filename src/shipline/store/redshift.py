"""Redshift: the PostgreSQL path, with Redshift's dialect and its differences.

Redshift speaks PostgreSQL's wire protocol, so the connection is psycopg's (or
``redshift_connector``'s, see docs/backends.md). What differs is rendered or
overridden here:

* SQL is rendered in sqlglot's ``redshift`` dialect, plus our rewrites in
  ``store/render.py``: ``epoch_us`` becomes ``DATEDIFF(microsecond, ...)``,
  ``IS DISTINCT FROM`` and ``FILTER`` are spelled out, ``EXCEPT ALL`` becomes
  ``EXCEPT``, INTERVAL columns are ``INTERVAL DAY TO SECOND``.
* Advisory locks do not exist: ``LOCK table`` (held to the end of the transaction)
  takes their place, one table per lock name.
* ``COPY ... FROM STDIN`` does not exist: small Arrow tables go in by multi-row
  INSERT; bulk files are loaded by COPY from S3 (the loader).
* Not used anywhere, because Redshift lacks them: ``ON CONFLICT``, ``MERGE`` (we
  upsert by delete + insert), sequences and ``RETURNING`` (ids are numbered under a
  lock).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from shipline.store.postgres import PostgresBackend, quote_identifier

INSERT_ROWS = 1_000


class RedshiftBackend(PostgresBackend):
    """Redshift, over the PostgreSQL protocol."""

    DIALECT = "redshift"
    ALTERS_COLUMN_TYPES = False  # only a VARCHAR's length can change in place
    LOCK_TABLES: ClassVar[dict[str, str]] = {
        "shipline.timeline": "processing_checkpoints",
        "shipline.ingest": "shipment_events",
        "shipline.dead_letters": "dead_letters",
        "shipline.load_ledger": "load_ledger",
        "shipline.migrate": "schema_migrations",
    }

    def __init__(self, url: str) -> None:
        super().__init__(url.replace("redshift://", "postgresql://", 1))

    def lock(self, name: str) -> None:
        table = self.LOCK_TABLES.get(name)
        if table is not None:
            # Sent as is: LOCK is Redshift's (and PostgreSQL's), not DuckDB's, SQL.
            with self._lock:
                self._con.execute(f"LOCK {table}".encode())

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
