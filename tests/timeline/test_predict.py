"""Predicted delivery: learned from delivered shipments, kept per open shipment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.pipeline import Pipeline
from shipline.timeline.predict import recomputed_predictions, stored_predictions

DAY = date(2026, 1, 8)
START = datetime(2026, 1, 1, tzinfo=UTC)
TRAINED = 25  # shipments per lane: more than a segment needs


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def event(shipment: str, hours: float, kind: str, carrier: str = "UPS") -> dict[str, Any]:
    return {
        "shipment_id": shipment,
        "event_timestamp": at(hours).isoformat(),
        "event_type": kind,
        "carrier": carrier,
    }


def delivered_in(shipment: str, start: float, hours: float) -> list[dict[str, Any]]:
    """A shipment picked up two hours after creation and delivered ``hours`` after it."""
    return [
        event(shipment, start, "created"),
        event(shipment, start + 2, "picked_up"),
        event(shipment, start + hours, "delivered"),
    ]


@pytest.fixture
def world(pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    """The world of ``two_lanes``."""
    two_lanes(pipeline, tmp_path)
    return pipeline


def two_lanes(pipeline: Pipeline, tmp_path: Path) -> None:
    """Standard east-to-west shipments take exactly 50 hours, express east-to-east 10;
    both lanes also have one shipment picked up and waiting (W-OPEN, E-OPEN)."""
    pq.write_table(
        pa.table(
            {
                "location_id": ["EAST", "WEST"],
                "location_name": ["East Depot", "West Depot"],
                "region": ["east", "west"],
            }
        ),
        tmp_path / "locations.parquet",
    )
    west = [f"W{i:02d}" for i in range(TRAINED)] + ["W-OPEN", "W-DHL"]
    east = [f"E{i:02d}" for i in range(TRAINED)] + ["E-OPEN"]
    pq.write_table(
        pa.table(
            {
                "shipment_id": west + east,
                "service_level": ["standard"] * len(west) + ["express"] * len(east),
                "origin_location_id": ["EAST"] * (len(west) + len(east)),
                "destination_location_id": ["WEST"] * len(west) + ["EAST"] * len(east),
            }
        ),
        tmp_path / "packages.parquet",
    )
    pipeline.load_reference("locations", tmp_path / "locations.parquet")
    pipeline.load_reference("packages", tmp_path / "packages.parquet")
    records = []
    for i in range(TRAINED):
        records += delivered_in(f"W{i:02d}", i, 50) + delivered_in(f"E{i:02d}", i, 10)
    records += [event("W-OPEN", 100, "created"), event("W-OPEN", 102, "picked_up")]
    records += [event("E-OPEN", 100, "created"), event("E-OPEN", 102, "picked_up")]
    pipeline.ingest_records(records, "test")
    pipeline.base(as_of=DAY)


def test_a_lane_that_always_takes_50_hours_is_predicted_50_hours_out(world: Pipeline) -> None:
    west = world.prediction("W-OPEN")
    assert west is not None
    # Picked up at hour 102, and every such shipment arrived 48 hours after pickup.
    assert (west["point"], west["p10"], west["p90"]) == (at(150), at(150), at(150))
    assert west["segment"] == "lane=east>west carrier=UPS service=standard stage=picked_up"
    assert west["samples"] == TRAINED
    east = world.prediction("E-OPEN")
    assert east is not None and east["point"] == at(110)


def test_delivered_shipments_have_no_prediction(world: Pipeline) -> None:
    assert world.prediction("W00") is None
    assert world.summary("W00")["prediction"] is None
    world.ingest_records([event("W-OPEN", 149, "delivered")], "test")
    world.incremental()
    assert world.prediction("W-OPEN") is None


def test_a_segment_with_few_samples_falls_back_to_a_coarser_one(world: Pipeline) -> None:
    # No DHL shipment was ever delivered on the lane: the lane's service speaks for it.
    world.ingest_records(
        [event("W-DHL", 200, "created", "DHL"), event("W-DHL", 202, "picked_up", "DHL")], "test"
    )
    # No shipment in packages: neither lane nor service, only the stage is known.
    world.ingest_records(
        [event("NOWHERE", 200, "created"), event("NOWHERE", 201, "picked_up")], "t"
    )
    world.incremental()
    dhl = world.prediction("W-DHL")
    assert dhl is not None
    assert (dhl["segment"], dhl["point"]) == (
        "lane=east>west service=standard stage=picked_up",
        at(250),
    )
    nowhere = world.prediction("NOWHERE")
    assert nowhere is not None
    assert nowhere["segment"] == "stage=picked_up" and nowhere["samples"] == 2 * TRAINED
    # Half the picked-up shipments arrived in 8 hours, half in 48: the interval spans both.
    assert (nowhere["p10"], nowhere["p90"]) == (at(201 + 8), at(201 + 48))


def test_the_summary_and_the_prediction_follow_the_last_event(world: Pipeline) -> None:
    world.ingest_records([event("E-OPEN", 104, "in_transit")], "test")
    world.incremental()
    summary = world.summary("E-OPEN")
    # No delivered shipment had an in_transit event: every sample speaks for it.
    assert summary["prediction"]["segment"] == "all"
    assert summary["prediction"]["from_event_timestamp"] == at(104)


def test_incremental_predictions_equal_a_full_recompute(world: Pipeline) -> None:
    batches = [
        [event("W-OPEN", 110, "in_transit"), event("NEW-1", 120, "created")],
        # Late: an event before W-OPEN's last one, and E-OPEN delivered.
        [event("W-OPEN", 105, "departed_facility"), event("E-OPEN", 111, "delivered")],
        [event("NEW-1", 121, "picked_up"), event("NEW-2", 130, "created", "DHL")],
        [event("NEW-2", 131, "cancelled", "DHL")],
    ]
    for batch in batches:
        world.ingest_records(batch, "test")
        world.incremental()
        assert stored_predictions(world.backend) == recomputed_predictions(world.backend)
    assert {row[0] for row in stored_predictions(world.backend)} == {"W-OPEN", "NEW-1"}
    world.train_predictions()  # a new model version re-predicts every open shipment
    assert stored_predictions(world.backend) == recomputed_predictions(world.backend)
    assert world.verify().drift == 0


def test_before_any_model_there_is_no_prediction(pipeline: Pipeline) -> None:
    pipeline.ingest_records([event("A", 0, "created")], "test")
    pipeline.incremental()
    assert pipeline.prediction("A") is None
    assert pipeline.train_predictions().segments == 0
    assert pipeline.prediction("A") is None


def test_two_segments_that_spell_the_same_name_are_learned_as_one(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Learning groups each level by its features; a carrier and a service that spell
    the same segment between them must still pool their samples, as the segment
    name is what a prediction is matched by."""
    half = 12  # each alone fewer than MIN_SAMPLES (20) samples per stage; both more
    shipments = [f"S{i:02d}" for i in range(2 * half)]
    pq.write_table(
        pa.table(
            {
                "shipment_id": shipments,
                "service_level": ["y"] * half + ["x service=y"] * half,
                "origin_location_id": [None] * len(shipments),
                "destination_location_id": [None] * len(shipments),
            },
            schema=pa.schema(
                [
                    ("shipment_id", pa.string()),
                    ("service_level", pa.string()),
                    ("origin_location_id", pa.string()),
                    ("destination_location_id", pa.string()),
                ]
            ),
        ),
        tmp_path / "packages.parquet",
    )
    pipeline.load_reference("packages", tmp_path / "packages.parquet")
    records = []
    for i, shipment in enumerate(shipments):
        carrier = "A service=x" if i < half else "A"
        records += [
            event(shipment, i, "created", carrier),
            event(shipment, i + 1, "picked_up", carrier),
            event(shipment, i + 5, "delivered", carrier),
        ]
    pipeline.ingest_records(records, "test")
    pipeline.base(as_of=DAY)

    learned = pipeline.backend.fetchall(
        "SELECT level, samples FROM prediction_model WHERE segment = ?",
        ["lane=?>? carrier=A service=x service=y stage=picked_up"],
    )

    assert learned == [(0, 2 * half)]
