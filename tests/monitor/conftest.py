"""Helpers to build pipeline states that monitoring should notice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipline.notify import Notification
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database


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
def make_pipeline(tmp_path: Path, engine: str) -> Iterator[Any]:
    """Open pipelines over fresh databases on ``engine`` with settings overrides."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> Pipeline:
            database = stack.enter_context(fresh_database(engine))
            # No alerts.yaml in the test's folder: the packaged defaults apply unless given.
            options = {"alerts_file": str(tmp_path / "none.yaml"), **overrides}
            return stack.enter_context(Pipeline(Settings(database=database, **options)))

        yield make


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
