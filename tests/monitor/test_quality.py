"""The named quality checks find the problems a constructed timeline holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.monitor.conftest import event, hours


def test_a_clean_timeline_passes_every_check(make_pipeline: Any, tmp_path: Path) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    pq.write_table(
        pa.table({"location_id": ["HUB1"], "location_name": ["Hub"]}), tmp_path / "l.parquet"
    )
    pipeline.load_reference("locations", tmp_path / "l.parquet")
    pipeline.ingest_records(
        [
            event("S1", now - hours(5), "picked_up", location_id="HUB1"),
            event("S1", now - hours(1), "delivered", location_id="HUB1"),
        ],
        "test",
    )
    pipeline.incremental()
    checks = pipeline.quality(now)
    assert [check.name for check in checks] == [
        "silent_shipments",
        "stuck_shipments",
        "delivered_before_picked_up",
        "events_after_delivered",
        "conflicting_duplicates",
        "unknown_locations",
        "future_events",
    ]
    assert all(check.passed for check in checks), [c.as_dict() for c in checks if c.count]


def test_each_check_finds_its_constructed_problem(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    records = [
        # Silent: in transit for 3 days.
        event("SILENT", now - hours(72), "in_transit"),
        # Delivered an hour before it was picked up.
        event("BACKWARDS", now - hours(3), "delivered"),
        event("BACKWARDS", now - hours(2), "picked_up"),
        # An event after delivery.
        event("AFTER", now - hours(4), "delivered"),
        event("AFTER", now - hours(1), "arrived_at_facility"),
        # A location nobody has heard of (the locations table is empty).
        event("LOST", now - hours(1), "delivered", location_id="NOWHERE"),
        # A clock running a day fast.
        event("FAST", now + hours(24), "delivered"),
        # The same event_id with other content: a conflict.
        event("DUP", now - hours(1), "delivered", event_id="E-1", location_id=None),
    ]
    pipeline.ingest_records(records, "test")
    pipeline.ingest_records([event("DUP", now - hours(2), "delivered", event_id="E-1")], "test")
    pipeline.incremental()

    found = {check.name: check for check in pipeline.quality(now, examples=3)}
    assert found["silent_shipments"].count == 1
    assert found["silent_shipments"].examples[0]["shipment_id"] == "SILENT"
    assert found["silent_shipments"].examples[0]["expected_hours"] == 48
    # BACKWARDS also has a picked_up event after its delivery.
    assert found["delivered_before_picked_up"].count == 1
    assert found["delivered_before_picked_up"].examples[0]["shipment_id"] == "BACKWARDS"
    after = found["events_after_delivered"]
    assert after.count == 2
    assert {row["shipment_id"] for row in after.examples} == {"AFTER", "BACKWARDS"}
    conflicts = found["conflicting_duplicates"]
    assert conflicts.count == 1 and conflicts.rate == 1 / (len(records) + 1)
    assert "different content" in conflicts.examples[0]["reason"]
    assert found["unknown_locations"].count == 1
    assert found["unknown_locations"].examples[0]["location_id"] == "NOWHERE"
    assert found["future_events"].count == 1
    assert found["future_events"].examples[0]["shipment_id"] == "FAST"


def test_examples_are_capped(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    pipeline.ingest_records(
        [event(f"S{i}", now - hours(100), "in_transit") for i in range(20)], "test"
    )
    pipeline.incremental()
    silent = pipeline.quality(now, examples=2)[0]
    assert silent.count == 20 and len(silent.examples) == 2
