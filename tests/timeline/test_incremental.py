"""Incremental runs: what they rewrite, and that the view stays exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shipline.pipeline import Pipeline

DAY = date(2026, 1, 3)


def event(shipment: str, hours: int, kind: str = "in_transit", location: str | None = None) -> dict:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    return {
        "shipment_id": shipment,
        "event_timestamp": at.isoformat(),
        "event_type": kind,
        "location_id": location,
    }


def sequences(pipeline: Pipeline, shipment: str) -> list[tuple[int, str | None]]:
    return [(row["event_sequence"], row["event_type"]) for row in pipeline.timeline(shipment)]


def test_an_in_order_event_rewrites_only_its_predecessor_and_itself(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 0, "created"), event("A", 5, "picked_up")], "t")
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event("A", 9, "delivered")], "t")
    run = pipeline.incremental()
    assert (run.events, run.rows_written, run.late_shipments) == (1, 2, 0)
    rows = pipeline.timeline("A")
    assert rows[1]["status_duration"] == timedelta(hours=4)
    assert rows[2]["event_sequence"] == 3
    assert pipeline.verify().drift == 0


def test_a_late_event_renumbers_the_suffix_and_fixes_the_predecessor(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [event("A", 0, "created"), event("A", 5, "picked_up"), event("A", 20, "delivered")], "t"
    )
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event("A", 10, "arrived_at_facility")], "t")
    run = pipeline.incremental()
    assert run.late_shipments == 1
    assert sequences(pipeline, "A") == [
        (1, "created"),
        (2, "picked_up"),
        (3, "arrived_at_facility"),
        (4, "delivered"),
    ]
    assert pipeline.timeline("A")[1]["next_event_timestamp"].hour == 10
    assert pipeline.verify().drift == 0


def test_the_checkpoint_counts_ingestion_so_an_old_timestamp_is_not_dropped(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records([event("A", 100, "created")], "t")
    pipeline.base(as_of=DAY + timedelta(days=4))
    pipeline.ingest_records([event("A", 1, "created")], "t")
    pipeline.incremental()
    assert len(pipeline.timeline("A")) == 2


def test_replay_and_rebuild_give_the_same_view(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 0, "created"), event("B", 1, "created", "L1")], "t")
    pipeline.base(as_of=DAY)
    pipeline.ingest_records([event("A", 3, "picked_up", "L2"), event("B", 0, "created")], "t")
    pipeline.incremental()
    before = {s: pipeline.timeline(s) for s in "AB"}
    pipeline.incremental(replay_from=datetime(2025, 1, 1, tzinfo=UTC))
    assert pipeline.verify().drift == 0
    pipeline.base(as_of=DAY, rebuild=True)
    after = {s: pipeline.timeline(s) for s in "AB"}
    strip = ("processed_timestamp", "process_type", "incremental_batch_id")
    assert {
        s: [{k: v for k, v in r.items() if k not in strip} for r in rows]
        for s, rows in before.items()
    } == {
        s: [{k: v for k, v in r.items() if k not in strip} for r in rows]
        for s, rows in after.items()
    }


def test_the_summary_reports_delivery_against_the_promise(pipeline: Pipeline) -> None:
    pipeline.backend.execute(
        "INSERT INTO packages (shipment_id, promised_delivery_at) VALUES ('A', ?)",
        [datetime(2026, 1, 1, 6, tzinfo=UTC)],
    )
    pipeline.ingest_records([event("A", 0, "created"), event("A", 9, "delivered")], "t")
    pipeline.incremental()
    summary = pipeline.summary("A")
    assert summary["on_time"] is False
    assert str(summary["delay_hours"]) == "3.000000"
    assert summary["current_status"] == "delivered"
