"""DCSA Track & Trace 2.2 and 3.0 bodies go in unchanged (DESIGN 2a): actual events
become timeline rows, estimates go beside them, documents and sensors are skipped
and counted, revisions replace and retractions remove."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shipline.errors import NotFoundError
from shipline.pipeline import Pipeline
from tests.conftest import Shipline

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dcsa"


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_a_dcsa_3_page_keeps_movements_and_counts_the_rest(pipeline: Pipeline) -> None:
    result = pipeline.ingest_document(body("dcsa-tnt300-response.json"), "dcsa", "page-1")
    assert (result.accepted, result.rejected) == (3, 0)
    assert result.skipped == {
        "dcsa IOT event (not a movement)": 1,
        "dcsa REEFER event (not a movement)": 1,
    }
    pipeline.incremental()
    # The bill of lading is the shipment's key; its booking finds it too. The booking's
    # confirmation is the one document event that is a step of the shipment.
    confirmed, departed = pipeline.timeline("ABC709951")
    assert (confirmed["event_type"], confirmed["status"]) == ("created", "pre_transit")
    assert (departed["shipment_id"], departed["event_type"], departed["location_id"]) == (
        "HHL71800000",
        "departed_facility",
        "GBSOU",
    )
    assert pipeline.references("HHL71800000") == [
        {"reference_type": "booking", "reference": "ABC709951"}
    ]


def test_a_dcsa_2_estimate_is_served_beside_the_timeline(pipeline: Pipeline) -> None:
    result = pipeline.ingest_document(body("dcsa-tnt220-response.json"), "dcsa", "v2")
    assert result.rejected == 0
    pipeline.incremental()
    rows = pipeline.timeline("reserved-HHL123")
    assert {row["event_type"] for row in rows} == {"arrived_at_facility"}
    assert [e["classifier"] for e in pipeline.estimates("reserved-HHL123")] == ["EST"]


def test_a_newer_update_replaces_the_event_and_a_retraction_removes_it(
    pipeline: Pipeline,
) -> None:
    [push] = body("dcsa-tnt300-post-equipment.json")["events"]
    pipeline.ingest_document(push, "dcsa", "push")
    pipeline.incremental()
    corrected = copy.deepcopy(push)
    corrected["eventUpdatedDateTime"] = "2026-01-20T15:00:00Z"
    corrected["eventDateTime"] = "2026-01-20T14:45:00Z"
    assert pipeline.ingest_document(corrected, "dcsa", "push").accepted == 1
    pipeline.incremental()
    [row] = pipeline.timeline("APZU4812090")
    assert row["event_timestamp"].minute == 45
    retracted = {**copy.deepcopy(corrected), "isRetracted": True}
    retracted["eventUpdatedDateTime"] = "2026-01-20T16:00:00Z"
    assert pipeline.ingest_document(retracted, "dcsa", "push").accepted == 1
    pipeline.incremental()
    with pytest.raises(NotFoundError):
        pipeline.timeline("APZU4812090")
    assert pipeline.verify().drift == 0


def test_an_unmapped_code_is_refused_with_the_alias_that_fixes_it(pipeline: Pipeline) -> None:
    [push] = body("dcsa-tnt300-post-equipment.json")["events"]
    push["eventClassification"]["equipmentEventTypeCode"] = "XXXX"
    result = pipeline.ingest_document(push, "dcsa", "push")
    [error] = result.errors[0].errors
    # The field is named in shipline's terms and in DCSA's own.
    assert error.startswith(
        "event_type (transportEventTypeCode or equipmentEventTypeCode):"
        ' unknown value "dcsa:EQUIPMENT:XXXX"'
    )
    assert "[aliases.event_type]" in error


def test_the_cli_knows_a_dcsa_file_by_its_content(shipline: Shipline, tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_bytes((FIXTURES / "dcsa-tnt300-response.json").read_bytes())
    done = shipline("ingest", "--json", str(page))
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert (stats["accepted"], stats["references"], stats["skipped"]) == (
        3,
        2,
        {
            "dcsa IOT event (not a movement)": 1,
            "dcsa REEFER event (not a movement)": 1,
        },
    )
    # A refused record says which file of a folder it came from.
    (tmp_path / "wrong.json").write_text(
        json.dumps({"events": [{"eventDateTime": "2026-01-01T00:00:00Z", "eventType": "X"}]})
    )
    # Again: the same events are duplicates, nothing new is stored.
    again = json.loads(shipline("ingest", "--json", str(tmp_path)).stdout)
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    [refused] = again["errors"]
    assert refused["file"] == "wrong.json"
    assert refused["errors"][0].startswith("shipment_id (transportDocumentReference")


def test_a_file_named_as_a_feed_of_no_known_format_is_refused_whole(
    shipline: Shipline, tmp_path: Path
) -> None:
    feed = tmp_path / "status.edi"
    feed.write_text("hello")
    done = shipline("ingest", str(feed))
    assert done.returncode != 0
    said = " ".join(done.stderr.split())
    assert "status.edi: the content is none of the formats shipline reads" in said


def test_the_cli_ingests_a_dcsa_file_unchanged(shipline: Shipline) -> None:
    done = shipline("ingest", "--format", "dcsa", str(FIXTURES / "dcsa-tnt300-response.json"))
    assert done.returncode == 0, done.stderr
    assert "3 accepted" in done.stdout
    assert "skipped 1 dcsa IOT event (not a movement)" in " ".join(done.stdout.split())
    unknown = shipline("ingest", "--format", "edifact", str(FIXTURES / "README.md"))
    assert unknown.returncode == 3
