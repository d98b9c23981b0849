"""Revisions and retractions (DESIGN 2a): the timeline is computed over each event's
current revision, retracted events left out, whatever order they arrive in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shipline.errors import NotFoundError
from shipline.pipeline import Pipeline

DAY = date(2026, 1, 3)


def event(hours: int, kind: str, event_id: str, **extra: Any) -> dict[str, Any]:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    return {
        "shipment_id": "A",
        "event_timestamp": at.isoformat(),
        "event_type": kind,
        "event_id": event_id,
        **extra,
    }


def timeline(pipeline: Pipeline, shipment: str = "A") -> list[tuple[str, int, int]]:
    """(event_id, sequence, hour of the event) for each row of a shipment."""
    return [
        (row["event_id"], row["event_sequence"], row["event_timestamp"].hour)
        for row in pipeline.timeline(shipment)
    ]


def test_a_newer_revision_replaces_the_event_and_every_revision_is_stored(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records(
        [event(0, "created", "e1"), event(5, "picked_up", "e2", revision=1)], "carrier"
    )
    pipeline.base(as_of=DAY)
    result = pipeline.ingest_records([event(9, "picked_up", "e2", revision=2)], "carrier")
    assert (result.accepted, result.duplicates, result.rejected) == (1, 0, 0)
    run = pipeline.incremental()
    assert timeline(pipeline) == [("e1", 1, 0), ("e2", 2, 9)]
    assert run.full_recompute_rows == 2
    stored = pipeline.backend.fetchall(
        "SELECT revision FROM shipment_events WHERE event_id = 'e2' ORDER BY ingest_seq"
    )
    assert stored == [(1,), (2,)]
    assert pipeline.verify().drift == 0


def test_an_older_revision_with_other_content_is_a_conflict_and_the_same_one_a_duplicate(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records([event(5, "picked_up", "e2", revision=2)], "carrier")
    older = pipeline.ingest_records([event(3, "picked_up", "e2", revision=1)], "carrier")
    again = pipeline.ingest_records([event(5, "picked_up", "e2", revision=2)], "carrier")
    assert (older.accepted, older.rejected) == (0, 1)
    assert "newer revision" in older.errors[0].errors[0]
    assert (again.accepted, again.duplicates) == (0, 1)
    pipeline.incremental()
    assert timeline(pipeline) == [("e2", 1, 5)]


def test_updated_at_orders_revisions_as_dcsa_does(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [
            event(5, "picked_up", "e2", updated_at="2026-01-01T06:00:00Z"),
            event(7, "picked_up", "e2", updated_at="2026-01-01T08:00:00Z"),
        ],
        "dcsa",
    )
    pipeline.incremental()
    assert timeline(pipeline) == [("e2", 1, 7)]


def test_a_retraction_removes_the_event_and_relinks_its_neighbours(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [event(0, "created", "e1"), event(5, "picked_up", "e2"), event(9, "delivered", "e3")],
        "carrier",
    )
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event(5, "picked_up", "e2", retracted=True)], "carrier")
    run = pipeline.incremental()
    assert timeline(pipeline) == [("e1", 1, 0), ("e3", 2, 9)]
    assert pipeline.timeline("A")[0]["next_event_timestamp"].hour == 9
    assert run.full_recompute_rows == 2
    assert pipeline.verify().drift == 0
    pipeline.base(as_of=DAY)
    assert timeline(pipeline) == [("e1", 1, 0), ("e3", 2, 9)]


def test_a_retraction_that_arrives_first_applies_when_its_event_arrives(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records(
        [event(0, "created", "e1"), event(5, "picked_up", "e2", retracted=True)], "carrier"
    )
    pipeline.incremental()
    late = pipeline.ingest_records([event(5, "picked_up", "e2")], "carrier")
    assert late.accepted == 1
    pipeline.incremental()
    assert timeline(pipeline) == [("e1", 1, 0)]
    assert pipeline.verify().drift == 0


def test_retracting_every_event_empties_the_shipment(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event(0, "created", "e1")], "carrier")
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event(0, "created", "e1", retracted=True)], "carrier")
    pipeline.incremental()
    with pytest.raises(NotFoundError):
        pipeline.timeline("A")
    assert pipeline.status().checkpoint.view_rows == 0
    assert pipeline.verify().drift == 0


def test_a_revision_can_move_an_event_to_another_shipment(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event(0, "created", "e1"), event(5, "picked_up", "e2")], "carrier")
    pipeline.base(as_of=DAY)
    pipeline.ingest_records(
        [{**event(5, "picked_up", "e2", revision=1), "shipment_id": "B"}], "carrier"
    )
    pipeline.incremental()
    assert timeline(pipeline) == [("e1", 1, 0)]
    assert timeline(pipeline, "B") == [("e2", 1, 5)]
    assert pipeline.verify().drift == 0
