"""What the routers reach through ``request.app.state.services``.

The server (``shipline.server``) builds these parts and hands them over; the
routers only know them by the small protocols below, so the API depends on no
part of the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
from fastapi import Request

from shipline.api.ingest import Outcome
from shipline.api.keys import KeyCache
from shipline.api.metrics import Metrics
from shipline.pipeline import Pipeline
from shipline.settings import Settings


class IngestQueue(Protocol):
    """Where requests' records are ingested, together with other requests'."""

    stats: Any

    async def ingest(self, raw: pa.Table, source: str) -> list[Outcome]:
        """Ingest ``raw``; this request's outcomes."""
        ...


class RunTrigger(Protocol):
    """The event-driven processor, as requests see it."""

    stats: Any

    @property
    def pending(self) -> int:
        """Events accepted but not yet handed to a run."""
        ...

    def notify(self, accepted: int) -> None:
        """Tell it that ``accepted`` new events were stored."""
        ...


@dataclass(frozen=True)
class Services:
    """The server's parts a request may use."""

    pipeline: Pipeline
    settings: Settings
    keys: KeyCache
    metrics: Metrics
    ingest_queue: IngestQueue
    processor: RunTrigger
    processing: bool


def services(request: Request) -> Services:
    """The server's parts, from the app a request came to."""
    found: Services = request.app.state.services
    return found
