"""Stuck shipments, in a world whose usual gaps are known.

History (delivered long ago, so never stuck themselves):

- 25 shipments on lane A>B, the k-th picked up and arriving at a facility k hours
  later (k = 1..25), delivered an hour after that. After picked_up on A>B the
  gaps are 1..25 h: their 95th percentile is 24 h.
- One shipment on lane C>D, 100 h from picked_up to arrival, delivered an hour later.
  After picked_up on every lane: 1..25 h and 100 h, 26 gaps; 95th percentile 25 h.
  After any event: those, and 26 gaps of 1 h; 95th percentile 24 h.

C>D has one gap after picked_up (fewer than 20), so its shipments are judged by
the stage; nothing follows a customs_hold, so one is judged by every gap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.monitor.rules import parse_condition
from shipline.pipeline import Pipeline

NOW = datetime.now(UTC).replace(microsecond=0)
HISTORY = NOW - timedelta(days=40)


def event(shipment_id: str, at: datetime, event_type: str) -> dict[str, Any]:
    return {"shipment_id": shipment_id, "event_timestamp": at.isoformat(), "event_type": event_type}


def delivered_history(shipment_id: str, hours_to_arrival: float) -> list[dict[str, Any]]:
    arrival = HISTORY + timedelta(hours=hours_to_arrival)
    return [
        event(shipment_id, HISTORY, "picked_up"),
        event(shipment_id, arrival, "arrived_at_facility"),
        event(shipment_id, arrival + timedelta(hours=1), "delivered"),
    ]


def silent_since(shipment_id: str, hours: float, event_type: str = "picked_up") -> dict[str, Any]:
    return event(shipment_id, NOW - timedelta(hours=hours), event_type)


LANES = {
    **{f"H{k:02d}": ("A", "B") for k in range(1, 26)},
    "CD-HISTORY": ("C", "D"),
    "AB-30H": ("A", "B"),
    "AB-24.5H": ("A", "B"),
    "AB-20H": ("A", "B"),
    "CD-30H": ("C", "D"),
    "CD-24.5H": ("C", "D"),
    "HOLD-30H": ("A", "B"),
    "DELIVERED-30H": ("A", "B"),
}


@pytest.fixture
def world(pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    records = [
        *(record for k in range(1, 26) for record in delivered_history(f"H{k:02d}", k)),
        *delivered_history("CD-HISTORY", 100),
        silent_since("AB-30H", 30),
        silent_since("AB-24.5H", 24.5),
        silent_since("AB-20H", 20),
        silent_since("CD-30H", 30),
        silent_since("CD-24.5H", 24.5),
        silent_since("HOLD-30H", 30, "customs_hold"),
        silent_since("DELIVERED-30H", 30, "delivered"),
    ]
    pipeline.ingest_records(records, "test")
    packages = pa.table(
        {
            "shipment_id": list(LANES),
            "origin_location_id": [lane[0] for lane in LANES.values()],
            "destination_location_id": [lane[1] for lane in LANES.values()],
        }
    )
    pq.write_table(packages, tmp_path / "packages.parquet")
    pipeline.load_reference("packages", tmp_path / "packages.parquet")
    pipeline.incremental()
    return pipeline


def test_a_shipment_is_stuck_past_its_lane_and_stages_usual_gap(world: Pipeline) -> None:
    found = {shipment.shipment_id: shipment for shipment in world.stuck(NOW)}
    assert set(found) == {"AB-30H", "AB-24.5H", "CD-30H", "HOLD-30H"}
    # 24.5 h is too long on A>B (usually at most 24 h) but not after picked_up anywhere (25 h)
    assert (found["AB-24.5H"].segment, found["AB-24.5H"].usual_gap_p95_hours) == ("lane", 24)
    assert (found["CD-30H"].segment, found["CD-30H"].usual_gap_p95_hours) == ("stage", 25)
    assert (found["HOLD-30H"].segment, found["HOLD-30H"].usual_gap_p95_hours) == ("global", 24)


def test_each_stuck_shipment_says_why(world: Pipeline) -> None:
    first, second, *_ = world.stuck(NOW)
    assert first.as_dict() == {
        "shipment_id": "AB-30H",  # the furthest past its usual gap (6 h), by id on a tie
        "status": "in_transit",
        "last_event_type": "picked_up",
        "last_event_id": first.last_event_id,
        "last_event_timestamp": NOW - timedelta(hours=30),
        "location_id": None,
        "carrier": None,
        "lane": "A>B",
        "gap_hours": 30.0,
        "usual_gap_p95_hours": 24.0,
        "segment": "lane",
        "segment_samples": 25,
        "reason": "silent 30.0 h since picked_up; the gap after picked_up on lane A>B is at"
        " most 24.0 h 95% of the time (25 gaps)",
    }
    assert second.shipment_id == "HOLD-30H"
    assert second.reason == (
        "silent 30.0 h since customs_hold; the gap after any event is at most 24.0 h"
        " 95% of the time (52 gaps)"
    )
    assert [shipment.shipment_id for shipment in world.stuck(NOW, limit=2)] == [
        "AB-30H",
        "HOLD-30H",
    ]


def test_too_few_gaps_anywhere_give_no_verdict(world: Pipeline) -> None:
    from shipline.timeline.stuck import stuck_shipments

    assert stuck_shipments(world.backend, NOW, min_samples=1000) == []


def test_the_metric_the_alert_rule_and_the_quality_check_count_them(world: Pipeline) -> None:
    metrics = world.metrics(NOW)
    assert metrics["stuck_shipments"] == 4
    assert parse_condition("stuck_shipments > 3").holds(metrics)
    assert not parse_condition("stuck_shipments > 4").holds(metrics)
    (check,) = [check for check in world.quality(NOW) if check.name == "stuck_shipments"]
    assert check.count == 4
    assert check.examples[0]["shipment_id"] == "AB-30H"


def test_a_base_run_learns_the_usual_gaps_and_later_history_waits_for_the_next(
    world: Pipeline, tmp_path: Path
) -> None:
    from shipline.timeline.stuck import thresholds_learned_at

    assert thresholds_learned_at(world.backend) is None  # judged by every gap in the view
    world.base()
    assert thresholds_learned_at(world.backend) is not None
    learned = {shipment.shipment_id for shipment in world.stuck(NOW)}
    assert learned == {"AB-30H", "AB-24.5H", "CD-30H", "HOLD-30H"}  # the same gaps, stored
    # 25 slow deliveries on A>B (48 h after pickup) would lift the lane's 95th
    # percentile past 30 h, but only once a base run learns from them.
    slow = [f"SLOW{k:02d}" for k in range(25)]
    world.ingest_records([r for name in slow for r in delivered_history(name, 48)], "test")
    packages = pa.table(
        {
            "shipment_id": slow,
            "origin_location_id": ["A"] * len(slow),
            "destination_location_id": ["B"] * len(slow),
        }
    )
    pq.write_table(packages, tmp_path / "slow-packages.parquet")
    world.load_reference("packages", tmp_path / "slow-packages.parquet")
    world.incremental()
    assert "AB-30H" in {shipment.shipment_id for shipment in world.stuck(NOW)}
    world.base()
    # 48 h is now the usual gap after picked_up on A>B, on every lane and after any event
    assert world.stuck(NOW) == []


def test_a_limit_below_one_is_refused_by_name(world: Pipeline) -> None:
    from shipline.errors import ValidationError

    with pytest.raises(ValidationError, match="limit: 0 is not a positive number"):
        world.stuck(NOW, limit=0)
