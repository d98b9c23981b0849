"""GS1 EPCIS 2.0 JSON-LD documents go in unchanged (DESIGN 2a): each EPC's moves
become its timeline, steps that move nothing are skipped and counted, an error
declaration retracts its event, and a re-sent document is only duplicates."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipline.errors import ConfigError, NotFoundError
from shipline.events.formats import detect_format
from shipline.events.formats.epcis import FORMAT, epcis_records
from shipline.pipeline import Pipeline
from tests.conftest import Shipline

FIXTURES = Path(__file__).parent.parent / "fixtures" / "epcis"
SAMPLES = sorted(path.name for path in FIXTURES.glob("epcis-*.jsonld"))
STANDARDS_JSON = Path(__file__).parent.parent / "fixtures" / "dcsa"

CASE_2017 = "urn:epc:id:sgtin:0614141.107346.2017"
CASE_2018 = "urn:epc:id:sgtin:0614141.107346.2018"
PALLET = "urn:epc:id:sscc:0614141.1234567890"
LOT = "urn:epc:class:lgtin:4012345.012345.998877"
PO = "http://transaction.acme.com/po/12345678"
DESADV = "urn:epcglobal:cbv:bt:0614141073467:1152"


def document(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def events_of(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = document(name)["epcisBody"]["eventList"]
    return events


def kinds_and_places(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["event_type"], row["location_id"]) for row in rows]


def test_a_shipped_and_received_case_has_both_moves_at_their_read_points(
    pipeline: Pipeline,
) -> None:
    data = (FIXTURES / "epcis-object-shipping-receiving.jsonld").read_bytes()
    result = pipeline.ingest_feed(data, None, "po-12345678")  # recognised by its content
    # Two cases shipped, one of them received: one record per EPC of each event.
    assert (result.accepted, result.rejected, result.skipped) == (3, 0, {})
    pipeline.incremental()
    shipped, received = pipeline.timeline(CASE_2018)
    assert kinds_and_places([shipped, received]) == [
        ("departed_facility", "urn:epc:id:sgln:0614141.07346.1234"),
        # The read point (the dock door), not the business location behind it.
        ("arrived_at_facility", "urn:epc:id:sgln:0012345.11111.400"),
    ]
    # eventTime is the instant; its offset is applied once, eventTimeZoneOffset never.
    assert shipped["event_timestamp"] == datetime(2005, 4, 4, 2, 33, 31, 116000, tzinfo=UTC)
    assert [row["event_type"] for row in pipeline.timeline(CASE_2017)] == ["departed_facility"]
    assert pipeline.references(CASE_2018) == [
        {"reference_type": "despatch_advice", "reference": DESADV},
        {"reference_type": "purchase_order", "reference": PO},
    ]


def test_gs1_digital_link_ids_are_kept_as_they_are(pipeline: Pipeline) -> None:
    result = pipeline.ingest_document(document("epcis-object-digital-link.jsonld"), "epcis", "dl")
    assert (result.accepted, result.rejected) == (3, 0)
    pipeline.incremental()
    rows = pipeline.timeline("https://id.gs1.org/01/70614141123451/21/2018")
    assert [row["event_type"] for row in rows] == ["departed_facility", "arrived_at_facility"]
    assert rows[0]["shipment_id"] == "https://id.gs1.org/01/70614141123451/21/2018"


def test_an_aggregation_moves_the_pallet_its_cases_and_its_lot(pipeline: Pipeline) -> None:
    result = pipeline.ingest_document(document("epcis-aggregation-sscc.jsonld"), "epcis", "agg")
    # parentID, both childEPCs and the lot of childQuantityList; the GTIN pattern
    # (urn:epc:idpat:...:*) names no one thing, so it is no shipment.
    assert (result.accepted, result.rejected) == (4, 0)
    pipeline.incremental()
    [pallet] = pipeline.timeline(PALLET)
    assert (pallet["event_type"], pallet["event_timestamp"]) == (
        "arrived_at_facility",
        datetime(2013, 6, 8, 14, 58, 56, 591000, tzinfo=UTC),  # not moved by +02:00
    )
    assert pipeline.references(CASE_2017) == [{"reference_type": "sscc", "reference": PALLET}]
    assert len(pipeline.timeline(LOT)) == 1
    with pytest.raises(NotFoundError):
        pipeline.timeline("urn:epc:idpat:sgtin:4012345.098765.*")


def test_a_lot_observed_by_quantity_is_a_shipment(pipeline: Pipeline) -> None:
    result = pipeline.ingest_document(document("epcis-object-9.6.2.jsonld"), "epcis", "lot")
    assert (result.accepted, result.rejected) == (1, 0)
    pipeline.incremental()
    assert kinds_and_places(pipeline.timeline(LOT)) == [
        ("arrived_at_facility", "urn:epc:id:sgln:0614141.00777.0")
    ]


def test_transformations_are_skipped_and_counted_even_when_declared_in_error(
    pipeline: Pipeline,
) -> None:
    result = pipeline.ingest_document(
        document("epcis-error-declaration-corrective.jsonld"), "epcis", "transform"
    )
    assert (result.accepted, result.rejected) == (0, 0)
    assert result.skipped == {"epcis TransformationEvent (not a movement)": 2}


def test_an_error_declaration_retracts_the_event_and_its_correction_goes_in(
    pipeline: Pipeline,
) -> None:
    shipping, _ = events_of("epcis-object-shipping-receiving.jsonld")
    pipeline.ingest_document(shipping, "epcis", "capture")
    pipeline.incremental()
    corrective = {**copy.deepcopy(shipping), "eventID": "urn:uuid:7a1c0b4e-0000-4000-8000-1"}
    corrective["eventTime"] = "2005-04-03T21:00:00.000-06:00"
    declared = copy.deepcopy(shipping)
    declared["errorDeclaration"] = {
        "declarationTime": "2005-04-05T08:00:00Z",
        "reason": "incorrect_data",
        "correctiveEventIDs": [corrective["eventID"]],
    }
    result = pipeline.ingest_document([declared, corrective], "epcis", "correction")
    assert (result.accepted, result.rejected) == (4, 0)  # two cases, two records each
    pipeline.incremental()
    [row] = pipeline.timeline(CASE_2017)
    assert row["event_timestamp"] == datetime(2005, 4, 4, 3, 0, tzinfo=UTC)
    assert pipeline.verify().drift == 0
    retraction = FORMAT.records(declared).records[0]
    assert retraction["retracted"] is True
    assert retraction["event_id"] == FORMAT.records(shipping).records[0]["event_id"]
    assert retraction["event_data"]["epcis"]["errorDeclaration"]["correctiveEventIDs"] == [
        corrective["eventID"]
    ]


@pytest.mark.parametrize("name", SAMPLES)
def test_the_same_document_again_is_only_duplicates(pipeline: Pipeline, name: str) -> None:
    first = pipeline.ingest_document(document(name), "epcis", name)
    again = pipeline.ingest_document(document(name), "epcis", name)
    assert (again.accepted, again.duplicates, again.rejected) == (0, first.accepted, 0)
    assert again.skipped == first.skipped


def test_a_malformed_event_is_a_dead_letter_naming_event_time(pipeline: Pipeline) -> None:
    shipping, receiving = events_of("epcis-object-shipping-receiving.jsonld")
    shipping["eventTime"] = "yesterday"
    result = pipeline.ingest_document([shipping, receiving], "epcis", "bad")
    assert (result.accepted, result.rejected) == (1, 1)
    [letter] = pipeline.dead_letters()
    assert letter["reason"].startswith('eventTime: "yesterday" is not a date and time')
    assert json.loads(letter["payload"])["eventID"] == shipping["eventID"]


def test_an_event_time_without_offset_is_read_at_its_event_time_zone_offset(
    pipeline: Pipeline,
) -> None:
    shipping, receiving = events_of("epcis-object-shipping-receiving.jsonld")
    shipping["eventTime"] = "2005-04-03T20:33:31.116"  # not EPCIS, but sent
    del receiving["eventTimeZoneOffset"]
    receiving["eventTime"] = "2005-04-04T20:33:31.116"
    result = pipeline.ingest_document([shipping, receiving], "epcis", "local")
    assert (result.accepted, result.rejected) == (2, 1)
    # With neither an offset nor a zone to read it in, the time is refused.
    [error] = result.errors[0].errors
    assert error.startswith("event_timestamp (eventTime):")
    pipeline.incremental()
    [shipped] = pipeline.timeline(CASE_2017)
    assert shipped["event_timestamp"] == datetime(2005, 4, 4, 2, 33, 31, 116000, tzinfo=UTC)


def test_every_form_of_a_cbv_code_is_the_same_code(pipeline: Pipeline) -> None:
    shipping, _ = events_of("epcis-object-shipping-receiving.jsonld")
    forms = (
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
    )
    events = [
        {**shipping, "eventID": f"urn:uuid:form-{n}", "epcList": [f"urn:epc:id:sgtin:1.2.{n}"],
         "bizStep": form}
        for n, form in enumerate(forms)
    ]  # fmt: skip
    disposition_only = {
        **events[0],
        "eventID": "urn:uuid:disp",
        "epcList": ["urn:epc:id:sgtin:1.2.9"],
    }
    del disposition_only["bizStep"]
    disposition_only["disposition"] = "https://ref.gs1.org/cbv/Disp-in_transit"
    assert pipeline.ingest_document([*events, disposition_only], "epcis", "forms").accepted == 4
    pipeline.incremental()
    kinds = [pipeline.timeline(f"urn:epc:id:sgtin:1.2.{n}")[0]["event_type"] for n in (0, 1, 2, 9)]
    assert kinds == ["departed_facility"] * 3 + ["in_transit"]


def test_a_step_that_moves_nothing_is_skipped_and_an_unknown_one_is_refused(
    pipeline: Pipeline,
) -> None:
    shipping, _ = events_of("epcis-object-shipping-receiving.jsonld")
    packing = {**shipping, "bizStep": "urn:epcglobal:cbv:bizstep:packing", "disposition": None}
    gate_out = {**shipping, "eventID": "urn:uuid:gate", "bizStep": "urn:acme:bizstep:gate_out"}
    result = pipeline.ingest_document([packing, gate_out], "epcis", "steps")
    assert result.skipped == {"epcis bizStep packing (not a movement)": 1}
    assert (result.accepted, result.rejected) == (0, 2)
    [error] = result.errors[0].errors
    assert error.startswith("event_type (bizStep, else disposition): unknown value")
    assert '"epcis:bizStep:urn:acme:bizstep:gate_out"' in error
    assert "[aliases.event_type]" in error


def test_a_shipment_can_be_the_business_transaction(pipeline: Pipeline) -> None:
    imported = epcis_records(
        document("epcis-object-shipping-receiving.jsonld"), shipment_key="business_transaction"
    )
    result = pipeline.ingest_records(imported.records, "epcis:po")
    assert (result.accepted, result.rejected) == (2, 0)  # one record per event
    pipeline.incremental()
    rows = pipeline.timeline(DESADV)  # the despatch advice is a reference of the order
    assert [(row["shipment_id"], row["event_type"]) for row in rows] == [
        (PO, "departed_facility"),
        (PO, "arrived_at_facility"),
    ]
    assert {"reference_type": "epc", "reference": CASE_2017} in pipeline.references(PO)


def test_an_event_without_event_id_is_keyed_by_its_content(pipeline: Pipeline) -> None:
    shipping, _ = events_of("epcis-object-shipping-receiving.jsonld")
    del shipping["eventID"]
    later = {**shipping, "eventTime": "2005-04-03T20:34:00-06:00"}
    ids = [record["event_id"] for record in FORMAT.records([shipping, later]).records]
    assert len(set(ids)) == 4  # two cases at two instants
    assert ids == [record["event_id"] for record in FORMAT.records([shipping, later]).records]
    assert pipeline.ingest_document(shipping, "epcis", "x").accepted == 2
    with_record_time = {**shipping, "recordTime": "2005-04-05T00:00:00Z"}  # a repository's
    assert pipeline.ingest_document(with_record_time, "epcis", "query").duplicates == 2


def test_a_query_document_a_bare_list_and_one_event_read_alike() -> None:
    captured = document("epcis-object-shipping-receiving.jsonld")
    events = captured["epcisBody"]["eventList"]
    query = {
        "@context": captured["@context"],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2005-07-11T11:30:47.0Z",
        "epcisBody": {
            "queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}
        },
    }
    expected = FORMAT.records(captured).records
    assert FORMAT.records(query).records == expected
    assert FORMAT.records(events).records == expected
    assert FORMAT.records(events[1]).records == expected[2:]


def test_what_is_not_an_epcis_event_is_refused_with_its_reason(pipeline: Pipeline) -> None:
    shipping, _ = events_of("epcis-object-shipping-receiving.jsonld")
    no_list = {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {}}
    result = pipeline.ingest_document(
        [no_list, {**shipping, "type": "FooEvent"}, "ObjectEvent"], "epcis", "odd"
    )
    assert (result.accepted, result.rejected) == (0, 3)
    reasons = [error.errors[0] for error in result.errors]
    assert reasons[0] == "epcisBody.eventList: not a list of events"
    assert reasons[1].startswith('type: "FooEvent" is not one of ObjectEvent')
    assert reasons[2].startswith("record: expected a JSON object")


def test_a_shipment_key_shipline_does_not_know_is_a_setting_to_fix() -> None:
    with pytest.raises(ConfigError, match="use one of epc, business_transaction"):
        epcis_records([], shipment_key="sscc")  # type: ignore[arg-type]


def test_epcis_is_recognised_by_its_content_and_dcsa_is_not_taken_for_it() -> None:
    for name in SAMPLES:
        found = detect_format((FIXTURES / name).read_bytes())
        assert found is not None and found.name == "epcis", name
    bare = json.dumps(events_of("epcis-object-shipping-receiving.jsonld")).encode()
    assert FORMAT.sniff(bare, json.loads(bare))
    for path in STANDARDS_JSON.glob("*.json"):
        assert not FORMAT.sniff(path.read_bytes(), json.loads(path.read_text())), path.name
    assert not FORMAT.sniff(b"{}", {"type": "Feature", "eventTime": "2026-01-01T00:00:00Z"})


def test_the_cli_ingests_an_epcis_file_unchanged(shipline: Shipline) -> None:
    done = shipline("ingest", str(FIXTURES / "epcis-object-shipping-receiving.jsonld"))
    assert done.returncode == 0, done.stderr
    assert "3 accepted" in done.stdout
    named = shipline(
        "ingest", "--format", "epcis", str(FIXTURES / "epcis-error-declaration-corrective.jsonld")
    )
    assert named.returncode == 0, named.stderr
    assert "skipped 2 epcis TransformationEvent (not a movement)" in " ".join(named.stdout.split())
