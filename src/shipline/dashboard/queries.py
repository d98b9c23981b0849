"""Deprecated: the dashboard's reads are ``Pipeline`` methods now (``pipeline.stage_counts()``
and the rest, over ``shipline.monitor.overview``).

These forward to them for callers not yet moved, and go once none is left.
"""

from __future__ import annotations

from datetime import datetime

from shipline.monitor.overview import (
    STATUSES,
    LocationDwell,
    MetricSeries,
    OpenDeadLetter,
    RunRow,
    ShipmentMatch,
    StageCounts,
)
from shipline.pipeline import Pipeline

__all__ = [
    "STATUSES",
    "ingest_seq_of",
    "location_dwell",
    "open_dead_letters",
    "recent_runs",
    "regions",
    "run_covering",
    "search_shipments",
    "series",
    "stage_counts",
]


def stage_counts(pipeline: Pipeline, now: datetime | None = None) -> StageCounts:
    """``pipeline.stage_counts(now)``."""
    return pipeline.stage_counts(now)


def recent_runs(pipeline: Pipeline, limit: int = 10) -> list[RunRow]:
    """``pipeline.recent_runs(limit)``."""
    return pipeline.recent_runs(limit)


def run_covering(pipeline: Pipeline, ingest_seq: int) -> RunRow | None:
    """``pipeline.run_covering(ingest_seq)``."""
    return pipeline.run_covering(ingest_seq)


def ingest_seq_of(pipeline: Pipeline, event_id: str) -> int | None:
    """``pipeline.ingest_seq_of(event_id)``."""
    return pipeline.ingest_seq_of(event_id)


def regions(pipeline: Pipeline) -> list[str]:
    """``pipeline.regions()``."""
    return pipeline.regions()


def search_shipments(
    pipeline: Pipeline,
    *,
    query: str = "",
    status: str | None = None,
    region: str | None = None,
    late: bool = False,
    exceptions: bool = False,
    limit: int = 50,
) -> list[ShipmentMatch]:
    """``pipeline.search_shipments(...)``."""
    return pipeline.search_shipments(
        query=query, status=status, region=region, late=late, exceptions=exceptions, limit=limit
    )


def location_dwell(pipeline: Pipeline, shipment_id: str) -> list[LocationDwell]:
    """``pipeline.location_dwell(shipment_id)``."""
    return pipeline.location_dwell(shipment_id)


def open_dead_letters(pipeline: Pipeline, limit: int = 20) -> list[OpenDeadLetter]:
    """``pipeline.open_dead_letters(limit)``."""
    return pipeline.open_dead_letters(limit)


def series(pipeline: Pipeline, minutes: int, now: datetime | None = None) -> MetricSeries:
    """``pipeline.series(minutes, now)``."""
    return pipeline.series(minutes, now)
