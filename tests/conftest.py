"""Fixtures shared by the suite: a pipeline on a real database, per engine, and the
``shipline`` command over one.

Tests that take ``pipeline`` or ``shipline`` run once on DuckDB and once on
PostgreSQL; the PostgreSQL run is marked ``postgres`` (select with ``-m postgres``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import ENGINES, fresh_database


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(engine, marks=[pytest.mark.postgres] if engine == "postgres" else [])
        for engine in ENGINES
    ],
)
def engine(request: pytest.FixtureRequest) -> str:
    """The name of the engine a test runs on.

    Module-scoped so that a module's shared server runs once per engine.
    """
    return str(request.param)


@pytest.fixture
def pipeline(engine: str) -> Iterator[Pipeline]:
    """A pipeline over a fresh database on ``engine``."""
    with fresh_database(engine) as database, Pipeline(Settings(database=database)) as opened:
        yield opened


@dataclass(frozen=True)
class Shipline:
    """The ``shipline`` command over one database, run in a folder of its own."""

    database: str
    folder: Path

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``shipline --database <database> ARGS`` as a user would, and wait for it."""
        return subprocess.run(
            [sys.executable, "-m", "shipline.cli", "--database", self.database, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
        )


@pytest.fixture
def shipline(engine: str, tmp_path: Path) -> Iterator[Shipline]:
    """The ``shipline`` command over a fresh database on ``engine``, run in ``tmp_path``."""
    with fresh_database(engine) as database:
        yield Shipline(database, tmp_path)
