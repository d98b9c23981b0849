"""Estimates and references (DESIGN 2a): served beside the timeline, never rows of it;
any reference finds its shipment."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shipline.errors import ValidationError
from shipline.pipeline import Pipeline
from tests.conftest import Shipline

EVENT = {
    "shipment_id": "SHP-1",
    "event_timestamp": "2026-01-01T08:00:00Z",
    "event_type": "departed_facility",
    "references": [
        {"type": "bill_of_lading", "reference": "MAEU123456789"},
        {"type": "container", "reference": "MSKU1234565"},
    ],
}


def eta(at: str, source_classifier: str = "EST") -> dict[str, object]:
    return {
        "shipment_id": "SHP-1",
        "estimates": [{"kind": "eta", "estimated_at": at, "classifier": source_classifier}],
    }


def test_an_estimate_is_stored_beside_the_timeline_and_the_latest_is_served(
    pipeline: Pipeline,
) -> None:
    result = pipeline.ingest_records([EVENT, eta("2026-01-09T10:00:00+01:00")], "dcsa")
    assert (result.accepted, result.rejected) == (2, 0)
    pipeline.ingest_records([eta("2026-01-10T12:00:00Z", "PLN")], "dcsa")
    pipeline.incremental()
    assert [row["event_type"] for row in pipeline.timeline("SHP-1")] == ["departed_facility"]
    [latest] = pipeline.estimates("SHP-1")
    assert (latest["kind"], latest["classifier"]) == ("eta", "PLN")
    assert latest["estimated_at"] == datetime(2026, 1, 10, 12, tzinfo=UTC)
    assert pipeline.summary("SHP-1")["estimated_delivery_at"] == latest["estimated_at"]
    assert pipeline.verify().drift == 0


def test_any_reference_finds_the_shipment(pipeline: Pipeline) -> None:
    pipeline.ingest_records([EVENT], "dcsa")
    pipeline.incremental()
    assert pipeline.timeline("MSKU1234565")[0]["shipment_id"] == "SHP-1"
    assert pipeline.summary("MAEU123456789")["shipment_id"] == "SHP-1"
    assert {r["reference_type"] for r in pipeline.references("SHP-1")} == {
        "bill_of_lading",
        "container",
    }


def test_a_shipment_id_names_its_shipment_before_any_reference_of_that_name(
    pipeline: Pipeline,
) -> None:
    named_like_it = {**EVENT, "references": [{"type": "booking", "reference": "SHP-2"}]}
    its_own = {**EVENT, "shipment_id": "SHP-2", "event_type": "picked_up", "references": []}
    pipeline.ingest_records([named_like_it, its_own], "dcsa")
    for run in (pipeline.incremental, pipeline.base):
        run()
        assert [row["event_type"] for row in pipeline.timeline("SHP-2")] == ["picked_up"]
        assert pipeline.summary("SHP-2")["shipment_id"] == "SHP-2"


def test_a_reference_of_two_shipments_asks_for_the_shipment_id(pipeline: Pipeline) -> None:
    other = {**EVENT, "shipment_id": "SHP-2", "references": [EVENT["references"][1]]}
    pipeline.ingest_records([EVENT, other], "dcsa")
    pipeline.incremental()
    with pytest.raises(ValidationError, match="names 2 shipments"):
        pipeline.timeline("MSKU1234565")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (eta("soon"), "estimates: each needs estimated_at"),
        (
            {
                "shipment_id": "S",
                "estimates": [{"kind": "ETA!", "estimated_at": "2026-01-01T00:00:00Z"}],
            },
            "estimates: each needs a kind",
        ),
        (
            {"shipment_id": "S", "references": [{"type": "booking", "reference": "BK 1 "}]},
            'references: "BK 1 " begins or ends with a space',
        ),
        ({"shipment_id": "S", "references": "BK1"}, "references: expected an array of objects"),
    ],
)
def test_a_bad_estimate_or_reference_refuses_its_record_by_name(
    pipeline: Pipeline, record: dict[str, object], message: str
) -> None:
    result = pipeline.ingest_records([record], "dcsa")
    assert result.rejected == 1
    assert result.errors[0].errors[0].startswith(message), result.errors[0].errors


def test_the_cli_timeline_takes_a_reference_and_shows_the_estimates(shipline: Shipline) -> None:
    records = "\n".join(json.dumps(r) for r in [EVENT, eta("2026-01-09T10:00:00Z")])
    assert shipline("ingest", "-", stdin=records).returncode == 0
    assert shipline("incremental").returncode == 0
    shown = shipline("timeline", "MSKU1234565")
    assert shown.returncode == 0, shown.stderr
    assert "estimate eta 2026-01-09T10:00:00+00:00 from " in shown.stdout
    data = json.loads(shipline("timeline", "MAEU123456789", "--format", "json").stdout)
    assert data["estimates"][0]["kind"] == "eta"
    assert data["shipment"]["shipment_id"] == "SHP-1"
