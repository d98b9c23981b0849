"""Fixtures shared by the suite: a pipeline on a real database, per engine.

Tests that take ``pipeline`` run once on DuckDB and once on PostgreSQL; the
PostgreSQL run is marked ``postgres`` (select with ``-m postgres``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import ENGINES, fresh_database


@pytest.fixture(
    params=[
        pytest.param(engine, marks=[pytest.mark.postgres] if engine == "postgres" else [])
        for engine in ENGINES
    ]
)
def engine(request: pytest.FixtureRequest) -> str:
    """The name of the engine a test runs on."""
    return str(request.param)


@pytest.fixture
def pipeline(engine: str) -> Iterator[Pipeline]:
    """A pipeline over a fresh database on ``engine``."""
    with fresh_database(engine) as database, Pipeline(Settings(database=database)) as opened:
        yield opened
