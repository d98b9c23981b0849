"""The hold-out evaluation: figures a world with a known answer must give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.errors import ValidationError
from shipline.pipeline import Pipeline
from tests.timeline.test_predict import START, at, delivered_in

SHIPMENTS = 120  # one created every 4 hours for 20 days
SPLIT = START + timedelta(days=10)


def exact_lane(pipeline: Pipeline, folder: Path) -> None:
    """Every shipment takes exactly 50 hours; each was promised in 72."""
    ids = [f"S{i:03d}" for i in range(SHIPMENTS)]
    pq.write_table(
        pa.table(
            {
                "location_id": ["EAST", "WEST"],
                "location_name": ["East Depot", "West Depot"],
                "region": ["east", "west"],
            }
        ),
        folder / "locations.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "shipment_id": ids,
                "service_level": ["standard"] * SHIPMENTS,
                "origin_location_id": ["EAST"] * SHIPMENTS,
                "destination_location_id": ["WEST"] * SHIPMENTS,
                "promised_delivery_at": pa.array(
                    [at(4 * i + 72) for i in range(SHIPMENTS)], pa.timestamp("us", tz="UTC")
                ),
            }
        ),
        folder / "packages.parquet",
    )
    pipeline.load_reference("locations", folder / "locations.parquet")
    pipeline.load_reference("packages", folder / "packages.parquet")
    records = [r for i, s in enumerate(ids) for r in delivered_in(s, 4 * i, 50)]
    pipeline.ingest_records(records, "test")
    pipeline.base(as_of=date(2026, 1, 25))


def test_a_lane_that_always_takes_50_hours_is_predicted_without_error(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    exact_lane(pipeline, tmp_path)
    result = pipeline.evaluate_predictions(SPLIT)
    by_method = {row["method"]: row for row in result.overall}
    assert by_method["model"]["mae_hours"] == 0
    assert by_method["model"]["coverage"] == 1
    # Promised 72 hours out, delivered in 50: 22 hours off at every event.
    assert by_method["promised"]["mae_hours"] == pytest.approx(22)
    assert by_method["lane_median"]["mae_hours"] == 0
    assert "carrier_estimate" not in by_method  # no estimate was ever received
    # Created at or after the split, and at least 50 hours before the data's end.
    last_event = at(4 * (SHIPMENTS - 1) + 50)
    assert result.test_until == last_event - timedelta(hours=50)
    tested = [i for i in range(SHIPMENTS) if SPLIT <= at(4 * i) < result.test_until]
    assert result.test_shipments == len(tested)
    assert result.pairs == 2 * len(tested)  # created and picked_up, each before delivery
    assert {row["stage"] for row in result.by_stage} == {"created", "picked_up"}


def test_the_carrier_estimate_counts_as_of_each_event(pipeline: Pipeline, tmp_path: Path) -> None:
    exact_lane(pipeline, tmp_path)
    late_by = timedelta(hours=5)
    pipeline.backend.execute(
        "INSERT INTO shipment_estimates SELECT shipment_id, 'delivery',"
        " min(event_timestamp) + INTERVAL '55 hours', 'carrier', NULL,"
        " min(event_timestamp) + INTERVAL '1 hour' FROM shipment_events GROUP BY shipment_id"
    )
    result = pipeline.evaluate_predictions(SPLIT)
    carrier = {row["method"]: row for row in result.overall}["carrier_estimate"]
    # Received an hour after creation: only the pickup (2 hours in) knows of it.
    assert carrier["pairs"] == result.test_shipments
    assert carrier["mae_hours"] == pytest.approx(late_by.total_seconds() / 3600)


def test_nothing_delivered_is_nothing_to_evaluate(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [{"shipment_id": "A", "event_timestamp": START.isoformat(), "event_type": "created"}],
        "test",
    )
    pipeline.incremental()
    with pytest.raises(ValidationError, match="no delivered shipment"):
        pipeline.evaluate_predictions()


def test_the_default_split_leaves_the_latest_deliveries_for_the_test(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    exact_lane(pipeline, tmp_path)
    result = pipeline.evaluate_predictions()
    assert START < result.split < datetime(2026, 2, 1, tzinfo=UTC)
    assert result.train_shipments > result.test_shipments > 0
