"""Fixtures for the loader: a real database on each engine, a landing folder, a logging
notifier, and S3 (moto's server on 127.0.0.1)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from shipline.loader import DEFAULT_KEYS, Loader, LocalSource
from shipline.notify import FanOut, LogNotifier
from shipline.store import Backend, open_backend
from tests.engines import fresh_database


@pytest.fixture
def backend(engine: str) -> Iterator[Backend]:
    """A migrated database on ``engine`` (DuckDB, then PostgreSQL)."""
    with fresh_database(engine) as database:
        db = open_backend(database)
        db.migrate()
        yield db
        db.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture
def source(landing: Path) -> LocalSource:
    return LocalSource(landing)


@pytest.fixture
def loader(backend: Backend) -> Loader:
    return Loader(backend, FanOut([LogNotifier()]), keys=DEFAULT_KEYS)


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-global: start each test from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    yield endpoint
    server.stop()


def partition_path(root: Path, table: str, day: str, seq: int, ext: str) -> Path:
    """``<root>/<table>/year=…/month=…/day=…/<table>_YYYYMMDD_NNN.<ext>``."""
    y, m, d = day.split("-")
    folder = root / table / f"year={y}" / f"month={m}" / f"day={d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{table}_{y}{m}{d}_{seq:03d}.{ext}"


def write_parquet(path: Path, rows: list[dict[str, Any]] | pa.Table) -> Path:
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    pq.write_table(table, path)
    return path


def snapshot(backend: Backend, table: str) -> list[tuple[Any, ...]]:
    """A table's rows in a stable order, or [] if it does not exist."""
    exists = backend.scalar(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_name = ? AND table_schema = current_schema()",
        [table],
    )
    if not exists:
        return []
    return sorted(backend.fetchall(f'SELECT * FROM "{table}"'), key=repr)


def columns(backend: Backend, table: str) -> dict[str, str]:
    """A table's column names and types, spelled alike on every engine."""
    return {name: kind for name, kind in backend.column_types(table).values()}
