"""One shipment whose data breaks a timeline run is held; every other one goes on.

The poison here is what an older version let in: two events of one shipment so
far apart (year 1 and year 294246) that the time between them overflows. The
store is append-only, so the tests write them as that version did.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipline.errors import BackendError, NotFoundError
from shipline.pipeline import Pipeline

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
"""The day of the events here: recent, so a base run of today keeps their shipments."""


def event(shipment_id: str, hour: int, event_type: str = "in_transit") -> dict[str, Any]:
    return {
        "shipment_id": shipment_id,
        "event_timestamp": f"{YESTERDAY}T{hour:02d}:00:00Z",
        "event_type": event_type,
    }


def store_poison(pipeline: Pipeline, shipment_id: str) -> None:
    """Two events no run can compute together, stored past validation."""
    seq = int(pipeline.backend.scalar("SELECT coalesce(max(ingest_seq), 0) FROM shipment_events"))
    pipeline.backend.execute(
        "INSERT INTO shipment_events (ingest_seq, event_id, shipment_id, event_timestamp,"
        " event_type, status, content_hash, source, ingested_at) VALUES"
        " (?, ?, ?, CAST('0001-01-01 00:00:00+00' AS TIMESTAMPTZ), 'created', 'pre_transit',"
        " 'x', 'old-version', current_timestamp),"
        " (?, ?, ?, CAST('294246-01-01 00:00:00+00' AS TIMESTAMPTZ), 'delivered', 'delivered',"
        " 'y', 'old-version', current_timestamp)",
        [seq + 1, f"{shipment_id}-first", shipment_id, seq + 2, f"{shipment_id}-last", shipment_id],
    )


def timeline_types(pipeline: Pipeline, shipment_id: str) -> list[str]:
    return [row["event_type"] for row in pipeline.timeline(shipment_id)]


def test_a_poison_shipment_is_held_and_the_others_go_on(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("GOOD-1", 8), event("POISON", 8), event("GOOD-2", 9)], "test")
    store_poison(pipeline, "POISON")

    result = pipeline.incremental()

    assert result.held_shipments == 1
    (hold,) = pipeline.holds()
    assert hold.shipment_id == "POISON"
    assert hold.process_type == "incremental"
    assert "range" in hold.reason.lower() or "overflow" in hold.reason.lower()
    assert timeline_types(pipeline, "GOOD-1") == ["in_transit"]
    assert timeline_types(pipeline, "GOOD-2") == ["in_transit"]
    status = pipeline.status()
    assert status.pending_events == 0  # the checkpoint moved past the held events
    assert status.held_shipments == 1


def test_healthy_shipments_keep_flowing_past_a_held_one(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("GOOD", 8), event("POISON", 8)], "test")
    store_poison(pipeline, "POISON")
    pipeline.incremental()

    pipeline.ingest_records([event("GOOD", 10, "delivered")], "test")
    later = pipeline.incremental()

    assert later.held_shipments == 0 and later.events == 1
    assert timeline_types(pipeline, "GOOD") == ["in_transit", "delivered"]
    assert [hold.shipment_id for hold in pipeline.holds()] == ["POISON"]


def test_a_new_event_for_a_held_shipment_retries_it(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("POISON", 8), event("GOOD", 8)], "test")
    store_poison(pipeline, "POISON")
    pipeline.incremental()
    first_hold = pipeline.holds()[0].held_at

    pipeline.ingest_records([event("POISON", 12)], "test")
    retried = pipeline.incremental()

    assert retried.held_shipments == 1  # it failed again, so it is held again
    assert pipeline.holds()[0].held_at > first_hold


def test_verify_reports_held_shipments_as_stuck_not_as_drift(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("GOOD", 8), event("POISON", 8)], "test")
    store_poison(pipeline, "POISON")
    pipeline.incremental()

    result = pipeline.verify()

    assert result.drift == 0
    assert result.held_shipments == 1
    assert result.stuck
    assert result.shipments_checked == 1


def test_verify_says_stuck_when_events_wait_too_long(pipeline: Pipeline) -> None:
    pipeline.settings.verify_max_pending_seconds = 0.000001
    pipeline.ingest_records([event("GOOD", 8)], "test")

    waiting = pipeline.verify()

    assert (waiting.pending_events, waiting.held_shipments) == (1, 0)
    assert waiting.oldest_pending_seconds > 0
    assert waiting.stuck
    pipeline.incremental()
    assert not pipeline.verify().stuck


def test_release_retries_a_held_shipment_and_ends_its_hold(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("POISON", 8), event("GOOD", 8)], "test")
    store_poison(pipeline, "POISON")
    pipeline.incremental()
    # The operator removes the bad events (here by hand), then releases the hold.
    pipeline.backend.execute("DELETE FROM shipment_events WHERE source = 'old-version'")

    assert pipeline.release_holds(["POISON", "NOT-HELD"]) == 1
    pipeline.incremental()

    assert pipeline.holds() == []
    assert timeline_types(pipeline, "POISON") == ["in_transit"]
    assert pipeline.verify().drift == 0


def test_the_base_run_holds_a_poison_shipment_too(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("GOOD", 8), event("POISON", 8)], "test")
    store_poison(pipeline, "POISON")

    result = pipeline.base()

    assert result.held_shipments == 1
    assert [(h.shipment_id, h.process_type) for h in pipeline.holds()] == [("POISON", "daily_base")]
    assert timeline_types(pipeline, "GOOD") == ["in_transit"]
    assert pipeline.verify().drift == 0


def test_a_failure_every_shipment_shares_is_raised_not_held(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 8), event("B", 8)], "test")
    pipeline.backend.execute("DROP TABLE shipment_timeline_incremental CASCADE")

    with pytest.raises(BackendError):
        pipeline.incremental()

    assert pipeline.holds() == []
    checkpoint = pipeline.backend.scalar("SELECT max(last_ingest_seq) FROM processing_checkpoints")
    assert checkpoint is None  # nothing committed: the next run tries again


def test_the_timeline_of_a_shipment_out_of_the_view_says_why(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("GOOD-1", 8), event("POISON", 8)], "test")
    store_poison(pipeline, "POISON")
    pipeline.ingest_records([event("WAITING", 9)], "test")
    with pytest.raises(NotFoundError, match="wait for the next run; run `shipline incremental`"):
        pipeline.timeline("WAITING")
    pipeline.incremental()
    with pytest.raises(NotFoundError, match="held out of the timeline runs"):
        pipeline.timeline("POISON")
    with pytest.raises(NotFoundError, match="no event of it is stored"):
        pipeline.timeline("NOPE")
