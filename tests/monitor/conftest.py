"""Helpers to build pipeline states that monitoring should notice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipline.notify import Notification
from shipline.pipeline import Pipeline
from shipline.settings import Settings


class Recorder:
    """A notifier that keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Iterator[Any]:
    """Open pipelines over fresh DuckDB files with settings overrides; close them after."""
    opened: list[Pipeline] = []

    def make(**overrides: Any) -> Pipeline:
        database = str(tmp_path / f"monitor{len(opened)}.duckdb")
        # No alerts.yaml in the test's folder: the packaged defaults apply unless given.
        options = {"alerts_file": str(tmp_path / "none.yaml"), **overrides}
        pipeline = Pipeline(Settings(database=database, **options))
        opened.append(pipeline)
        return pipeline

    yield make
    for pipeline in opened:
        pipeline.close()


def event(shipment_id: str, at: datetime, event_type: str, **extra: Any) -> dict[str, Any]:
    """One event record as a source would send it."""
    return {
        "shipment_id": shipment_id,
        "event_timestamp": at.isoformat(),
        "event_type": event_type,
        **extra,
    }


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
