"""Databases for tests, one fresh one per test, on each engine that runs here.

DuckDB gets an empty database file in a temporary folder (as ``shipline init``
would leave it: commands refuse a database that is not there). PostgreSQL
(127.0.0.1:5432, trust auth) gets a schema of its own on the ``postgres``
database, dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import duckdb
import psycopg

POSTGRES_URL = os.environ.get(
    "SHIPLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("duckdb", "postgres")


@contextmanager
def fresh_database(engine: str) -> Iterator[str]:
    """A database URL (or DuckDB path) nobody else uses; removed on exit."""
    if engine == "duckdb":
        with tempfile.TemporaryDirectory(prefix="shipline-test-") as folder:
            path = Path(folder) / "shipline.duckdb"
            duckdb.connect(str(path)).close()
            yield str(path)
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"'.encode())
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
