"""Fixtures shared by the suite: a pipeline on a real DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """A pipeline over a fresh DuckDB file."""
    with Pipeline(Settings(database=str(tmp_path / "shipline.duckdb"))) as opened:
        yield opened
