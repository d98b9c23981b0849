"""Fixtures for the loader: a real database on each engine, a landing folder, a logging notifier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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
