"""Parcel trackers go in as the aggregators and carriers send them (DESIGN 2a):
EasyPost, AfterShip, Shippo, karrio, and FedEx's, UPS's and DHL's own answers.

Every checkpoint is an event, typed through the provider's code table, timed as
written and keyed by its content, so the whole history resent on every update is
all duplicates; expected delivery goes beside the timeline, never in it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipline.events.formats import FORMATS, aftership, detect_format, easypost, karrio, shippo
from shipline.pipeline import Pipeline
from shipline.settings import Aliases, Settings
from tests.conftest import Shipline
from tests.engines import fresh_database

FIXTURES = Path(__file__).parent.parent / "fixtures"
SAMPLES = FIXTURES / "aggregators"
MINE = ("easypost", "aftership", "shippo", "karrio", "fedex", "ups", "dhl")


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def feed(document: Any) -> bytes:
    return json.dumps(document).encode()


def utc(value: Any) -> str:
    assert isinstance(value, datetime)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def types(rows: list[dict[str, Any]]) -> list[str]:
    return [row["event_type"] for row in rows]


def zone_of(pipeline: Pipeline, location_id: str, zone: str) -> None:
    pipeline.backend.execute(
        "INSERT INTO locations (location_id, location_name, timezone) VALUES (?, ?, ?)",
        [location_id, location_id, zone],
    )


# Recognised by content ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("easypost-tracker-retrieve.json", "easypost"),
        ("easypost-tracker-updated-event.json", "easypost"),
        ("aftership-tracking-fedex-intl.json", "aftership"),
        ("shippo-track-usps-create.json", "shippo"),
        ("shippo-track-usps-get-status.json", "shippo"),
        ("karrio-fedex-tracking-response.json", "fedex"),
        ("karrio-ups-tracking-response.json", "ups"),
        ("karrio-dhl-universal-tracking.json", "dhl"),
    ],
)
def test_each_sample_is_claimed_by_its_own_format_only(name: str, expected: str) -> None:
    data = (SAMPLES / name).read_bytes()
    document = json.loads(data)
    assert [f.name for f in FORMATS.values() if f.sniff(data, document)] == [expected]
    assert [f.name for f in FORMATS.values() if f.sniff(data, [document])] == [expected]


def test_no_tracker_format_claims_the_standards_samples() -> None:
    others = [p for p in FIXTURES.glob("*/*") if p.parent.name != "aggregators"]
    assert others
    for path in others:
        data = path.read_bytes()
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        claims = [n for n in MINE if FORMATS[n].sniff(data, document)]
        assert claims == [], path.name


def test_a_list_of_shipline_records_is_no_tracker() -> None:
    records = [{"shipment_id": "S1", "event_type": "delivered", "event_timestamp": "x"}]
    assert detect_format(feed(records)) is None


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("easypost-tracker-updated-event.json", 7),
        ("aftership-tracking-fedex-intl.json", 14),
        ("shippo-track-usps-get-status.json", 9),
        ("karrio-fedex-tracking-response.json", 1),
        ("karrio-ups-tracking-response.json", 2),
        ("karrio-dhl-universal-tracking.json", 1),
    ],
)
def test_every_checkpoint_is_keyed_by_its_content(name: str, events: int) -> None:
    data = (SAMPLES / name).read_bytes()
    found = detect_format(data)
    assert found is not None
    ids = [record["event_id"] for record in found.read(data).records]
    assert len(set(ids)) == len(ids) == events
    assert all(re.fullmatch(rf"{found.name}:[0-9a-f]{{32}}", event_id) for event_id in ids)
    assert [record["event_id"] for record in found.read(data).records] == ids


# EasyPost -----------------------------------------------------------------------


def test_an_easypost_tracker_is_two_checkpoints_an_estimate_and_its_id(
    pipeline: Pipeline,
) -> None:
    result = pipeline.ingest_feed(
        (SAMPLES / "easypost-tracker-retrieve.json").read_bytes(), None, "t"
    )
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 0)
    pipeline.incremental()
    rows = pipeline.timeline("trk_9135862729734d96ad2f9ed0f0565a27")
    assert [(utc(r["event_timestamp"]), r["event_type"], r["location_id"]) for r in rows] == [
        ("2025-04-09T20:40:17Z", "created", None),
        ("2025-04-10T09:17:17Z", "created", "/TX/HOUSTON/77063"),
    ]
    assert {r["shipment_id"] for r in rows} == {"EZ1000000001"}
    assert {r["carrier"] for r in rows} == {"usps"}
    [estimate] = pipeline.estimates("EZ1000000001")
    assert (estimate["kind"], utc(estimate["estimated_at"])) == ("delivery", "2025-05-09T20:40:17Z")
    assert pipeline.references("EZ1000000001") == [
        {"reference_type": "easypost_tracker", "reference": "trk_9135862729734d96ad2f9ed0f0565a27"}
    ]


def test_the_webhook_types_each_checkpoint_by_its_status_detail(pipeline: Pipeline) -> None:
    event = sample("easypost-tracker-updated-event.json")
    result = pipeline.ingest_feed(feed(event), "easypost", "hook")
    assert (result.accepted, result.rejected) == (7, 0)
    pipeline.incremental()
    rows = pipeline.timeline("1")
    assert types(rows) == [
        "created",  # pre_transit / label_created
        "arrived_at_facility",
        "arrived_at_facility",
        "departed_facility",
        "in_transit",  # in_transit / unknown: the status says it
        "in_transit",
        "arrived_at_facility",
    ]
    assert rows[1]["location_id"] == "US/FL/ORLANDO/32809"
    assert rows[0]["location_id"] == "US///32837"
    assert "delivery" in {e["kind"] for e in pipeline.estimates("1")}


def test_a_history_resent_three_times_keeps_each_checkpoint_once(pipeline: Pipeline) -> None:
    """The tracker, then the webhook with one more checkpoint, then the webhook again."""
    event = sample("easypost-tracker-updated-event.json")
    tracker = copy.deepcopy(event["result"])
    tracker["tracking_details"] = tracker["tracking_details"][:-1]
    tracker["updated_at"] = "2024-08-02T18:40:00Z"  # the tracker's update time never keys
    first = pipeline.ingest_feed(feed(tracker), None, "poll")
    second = pipeline.ingest_feed(feed(event), None, "hook")
    again = copy.deepcopy(event)
    again["id"], again["created_at"] = "evt_2", "2024-08-02T19:30:00.000Z"  # a new delivery
    third = pipeline.ingest_feed(feed(again), None, "hook")
    assert [(r.accepted, r.duplicates, r.rejected) for r in (first, second, third)] == [
        (6, 0, 0),
        (1, 6, 0),
        (0, 7, 0),
    ]
    pipeline.incremental()
    rows = pipeline.timeline("1")
    assert len(rows) == 7
    assert len({r["event_id"] for r in rows}) == 7
    assert utc(rows[-1]["event_timestamp"]) == "2024-08-02T18:50:00Z"
    assert pipeline.verify().drift == 0


def test_an_easypost_event_about_something_else_is_skipped_and_counted() -> None:
    batch = {"object": "Event", "description": "batch.updated", "result": {"object": "Batch"}}
    imported = FORMATS["easypost"].read(feed(batch))
    assert imported.records == []
    assert imported.skipped == {"easypost batch.updated event (not a tracker)": 1}


def test_a_bad_checkpoint_time_is_a_dead_letter_naming_datetime(pipeline: Pipeline) -> None:
    event = sample("easypost-tracker-updated-event.json")
    event["result"]["tracking_details"][3]["datetime"] = "2024-08-01T25:42:13Z"
    result = pipeline.ingest_feed(feed(event), None, "hook")
    assert (result.accepted, result.rejected) == (6, 1)
    [error] = result.errors[0].errors
    assert error.startswith(
        'event_timestamp (tracking_details[].datetime): "2024-08-01T25:42:13Z" is not an RFC 3339'
    )
    [letter] = pipeline.dead_letters()
    assert "Departed FedEx location" in letter["payload"]
    pipeline.incremental()
    assert "departed_facility" not in types(pipeline.timeline("1"))
    # The dead letter is the mapped record: fix its time and redrive it.
    fixed = json.loads(letter["payload"]) | {"event_timestamp": "2024-08-01T14:42:13Z"}
    assert pipeline.redrive([letter["dead_letter_id"]], json.dumps(fixed)).accepted == 1
    pipeline.incremental()
    assert types(pipeline.timeline("1"))[3] == "departed_facility"


# AfterShip ----------------------------------------------------------------------


def test_an_aftership_tracking_is_fourteen_typed_checkpoints(pipeline: Pipeline) -> None:
    result = pipeline.ingest_feed(
        (SAMPLES / "aftership-tracking-fedex-intl.json").read_bytes(), None, "api"
    )
    assert (result.accepted, result.rejected) == (14, 0)
    pipeline.incremental()
    rows = pipeline.timeline("111111111111")
    assert types(rows)[:3] == ["created", "picked_up", "departed_facility"]
    assert types(rows)[-2:] == ["out_for_delivery", "delivered"]
    # Times keep their offsets: 01:21:39-05:00 and 16:58:00+08:00.
    assert [utc(r["event_timestamp"]) for r in rows[:2]] == [
        "2018-07-23T06:21:39Z",
        "2018-07-23T08:58:00Z",
    ]
    assert rows[1]["location_id"] == "CHN//DONGGUAN CN"
    assert {r["carrier"] for r in rows} == {"fedex"}
    [estimate] = pipeline.estimates("111111111111")
    assert (estimate["classifier"], utc(estimate["estimated_at"])) == (
        "aftership",  # latest_estimated_delivery, from "AfterShip EDD"
        "2022-01-05T11:11:11Z",
    )
    assert pipeline.references("111111111111") == [
        {"reference_type": "aftership_tracking", "reference": "5b7658cec7c33c0e007de3c5"}
    ]


def test_two_checkpoints_at_one_instant_are_two_events(pipeline: Pipeline) -> None:
    pipeline.ingest_feed((SAMPLES / "aftership-tracking-fedex-intl.json").read_bytes(), None, "api")
    pipeline.incremental()
    same = [
        (r["event_type"], r["event_id"])
        for r in pipeline.timeline("111111111111")
        if utc(r["event_timestamp"]) == "2018-07-23T15:14:00Z"
    ]
    # An arrival scan and the export release, both at 23:14+08:00.
    assert sorted(kind for kind, _ in same) == ["arrived_at_facility", "departed_facility"]
    assert len({event_id for _, event_id in same}) == 2


def test_the_aftership_webhook_is_the_same_history(pipeline: Pipeline) -> None:
    tracking = sample("aftership-tracking-fedex-intl.json")["data"]["tracking"]
    pipeline.ingest_feed(feed({"meta": {"code": 200}, "data": {"tracking": tracking}}), None, "api")
    hook = {"event": "tracking_update", "event_id": "e-1", "msg": tracking, "ts": 1534482646}
    result = pipeline.ingest_feed(feed(hook), None, "hook")
    assert (result.accepted, result.duplicates) == (0, 14)


def test_an_unmapped_subtag_is_refused_with_the_alias_that_fixes_it(pipeline: Pipeline) -> None:
    document = sample("aftership-tracking-fedex-intl.json")
    document["data"]["tracking"]["checkpoints"][4]["subtag"] = "InTransit_099"
    result = pipeline.ingest_feed(feed(document), None, "api")
    assert (result.accepted, result.rejected) == (13, 1)
    [error] = result.errors[0].errors
    assert error.startswith(
        'event_type (checkpoints[].subtag, else tag): unknown value "aftership:InTransit_099"'
    )
    assert "[aliases.event_type]" in error


def test_an_alias_maps_a_new_subtag() -> None:
    document = sample("aftership-tracking-fedex-intl.json")
    document["data"]["tracking"]["checkpoints"][4]["subtag"] = "InTransit_099"
    settings = Settings(aliases=Aliases(event_type={"aftership:InTransit_099": "in_transit"}))
    batch = Pipeline.validate_records(FORMATS["aftership"].read(feed(document)).records, settings)
    assert batch.accepted.num_rows == 14


def test_pending_checkpoints_are_skipped_and_counted() -> None:
    document = sample("aftership-tracking-fedex-intl.json")
    document["data"]["tracking"]["checkpoints"][0]["subtag"] = "Pending_001"
    imported = FORMATS["aftership"].read(feed(document))
    assert len(imported.records) == 13
    assert imported.skipped == {"aftership Pending_001 checkpoint (not a movement)": 1}


# Shippo -------------------------------------------------------------------------


def test_two_shippo_answers_with_new_object_ids_are_one_history(pipeline: Pipeline) -> None:
    created = pipeline.ingest_feed(
        (SAMPLES / "shippo-track-usps-create.json").read_bytes(), None, "c"
    )
    status = pipeline.ingest_feed(
        (SAMPLES / "shippo-track-usps-get-status.json").read_bytes(), None, "s"
    )
    # The first two entries say UNKNOWN: USPS has not scanned the parcel yet.
    assert created.skipped == {"shippo UNKNOWN checkpoint (not a movement)": 2}
    assert (created.accepted, created.rejected) == (9, 0)
    assert (status.accepted, status.duplicates) == (0, 9)
    pipeline.incremental()
    rows = pipeline.timeline("9205590164917337534322")
    assert len(rows) == 9
    assert (types(rows)[0], types(rows)[-1]) == ("in_transit", "delivered")
    assert rows[-1]["location_id"] == "US/CA/BERKELEY/94705"
    estimates = pipeline.estimates("9205590164917337534322")  # one per source
    assert {(e["kind"], utc(e["estimated_at"])) for e in estimates} == {
        ("delivery", "2016-12-08T00:00:00Z")
    }


def test_the_track_updated_webhook_wraps_the_same_track(pipeline: Pipeline) -> None:
    track = sample("shippo-track-usps-create.json")
    pipeline.ingest_feed(feed(track), None, "poll")
    hook = {"event": "track_updated", "test": True, "data": track}
    assert detect_format(feed(hook)) is FORMATS["shippo"]
    assert pipeline.ingest_feed(feed(hook), None, "hook").duplicates == 9
    other = {"event": "transaction_created", "data": {"object_id": "x"}}
    assert FORMATS["shippo"].read(feed(other)).skipped == {
        "shippo transaction_created webhook (not a track update)": 1
    }


def test_a_substatus_says_more_than_the_status() -> None:
    track = sample("shippo-track-usps-create.json")
    track["tracking_history"][3]["substatus"] = {"code": "package_arrived", "text": "Arrived"}
    records = FORMATS["shippo"].read(feed(track)).records
    assert records[1]["event_type"] == "shippo:package_arrived"


# karrio -------------------------------------------------------------------------

KARRIO_TRACKER: dict[str, Any] = {
    "id": "trk_01h8x",
    "object_type": "tracker",
    "carrier_name": "canadapost",
    "carrier_id": "canadapost",
    "tracking_number": "1Z12345E6205277936",
    "status": "in_transit",
    "estimated_delivery": "2024-01-05",
    "events": [
        {"date": "2024-01-02", "time": "09:15", "code": "1496", "status": "picked_up",
         "description": "Item picked up", "location": "OTTAWA, ON, CA"},
        {"date": "2024-01-03", "time": "06:40 PM", "code": "0174", "status": "in_transit",
         "description": "Item processed", "location": "MISSISSAUGA, ON, CA"},
        {"date": "2024-01-03", "time": "18:40", "code": "9999",
         "description": "Sorted", "location": "MISSISSAUGA, ON, CA"},
    ],
}  # fmt: skip


def test_a_karrio_tracker_takes_its_local_times_from_the_source_zone() -> None:
    settings_zone = {"karrio": {"timezone": "America/Toronto"}}
    with (
        fresh_database("duckdb") as database,
        Pipeline(Settings(database=database, sources=settings_zone)) as pipeline,
    ):
        hook = {"type": "tracker.updated", "data": KARRIO_TRACKER}
        result = pipeline.ingest_feed(feed(hook), None, "hook")
        # The third has no unified status: its carrier code waits for an alias.
        assert (result.accepted, result.rejected) == (2, 1)
        [error] = result.errors[0].errors
        assert 'unknown value "karrio:canadapost:9999"' in error
        pipeline.incremental()
        rows = pipeline.timeline("trk_01h8x")
        assert [(utc(r["event_timestamp"]), r["event_type"], r["location_id"]) for r in rows] == [
            ("2024-01-02T14:15:00Z", "picked_up", "OTTAWA, ON, CA"),
            ("2024-01-03T23:40:00Z", "in_transit", "MISSISSAUGA, ON, CA"),
        ]
    # A bare date is no time: it is counted, not stored as an estimate.
    imported = karrio.karrio_records(KARRIO_TRACKER)
    assert imported.skipped == {"karrio estimated_delivery without a time offset (not stored)": 1}


# The carriers' own answers --------------------------------------------------------


def test_a_fedex_answer_keys_by_the_tracking_number(pipeline: Pipeline) -> None:
    result = pipeline.ingest_feed(
        (SAMPLES / "karrio-fedex-tracking-response.json").read_bytes(), None, "api"
    )
    assert (result.accepted, result.rejected) == (1, 0)
    assert result.skipped == {
        "fedex track result with error TRACKING.TRACKINGNUMBER.NOTFOUND (no scans)": 1
    }
    pipeline.incremental()
    [row] = pipeline.timeline("ASJFGVAS")  # the shipper's reference finds it
    assert (row["shipment_id"], row["event_type"], utc(row["event_timestamp"])) == (
        "128667043726",
        "picked_up",
        "2018-02-02T19:01:00Z",
    )
    assert row["location_id"] == "US/WA/SEATTLE/98101"
    assert {r["reference_type"] for r in pipeline.references("128667043726")} == {
        "tracking_number",
        "fedex_unique_id",
        "shipper_reference",
    }
    [estimate] = pipeline.estimates("128667043726")
    assert utc(estimate["estimated_at"]) == "2021-10-15T06:00:00Z"


def test_ups_local_times_need_a_zone_and_the_reason_names_both_fixes(
    pipeline: Pipeline,
) -> None:
    data = (SAMPLES / "karrio-ups-tracking-response.json").read_bytes()
    result = pipeline.ingest_feed(data, None, "api")
    assert (result.accepted, result.rejected) == (0, 2)
    error = result.errors[0].errors[0]
    assert error.startswith('event_timestamp (activity[].date and time (and gmtOffset)): "2022-')
    assert "[sources.NAME] timezone" in error
    zone_of(pipeline, "US/NJ/PARAMUS/07652", "America/New_York")
    zone_of(pipeline, "US", "America/New_York")
    result = pipeline.ingest_feed(data, None, "api")
    assert (result.accepted, result.rejected) == (2, 0)
    pipeline.incremental()
    rows = pipeline.timeline("1Z1442YY7229014688")
    assert [(utc(r["event_timestamp"]), r["event_type"]) for r in rows] == [
        ("2022-01-26T20:16:41Z", "created"),
        ("2022-01-26T21:30:00Z", "delivered"),
    ]


def test_a_ups_gmt_offset_is_kept() -> None:
    answer = sample("karrio-ups-tracking-response.json")
    activity = answer["trackResponse"]["shipment"][0]["package"][0]["activity"][0]
    activity["gmtOffset"] = "-05:00"
    [delivered, _] = FORMATS["ups"].read(feed(answer)).records
    assert delivered["event_timestamp"] == "2022-01-26T16:30:00-05:00"


def test_a_dhl_answer_has_its_estimate_and_reference(pipeline: Pipeline) -> None:
    zone_of(pipeline, "NL//ODERWEG 2, AMSTERDAM/1043 AG", "Europe/Amsterdam")
    result = pipeline.ingest_feed(
        (SAMPLES / "karrio-dhl-universal-tracking.json").read_bytes(), None, "api"
    )
    assert (result.accepted, result.rejected) == (1, 0)
    pipeline.incremental()
    [row] = pipeline.timeline("YZ3892406173")
    assert (row["shipment_id"], row["event_type"], utc(row["event_timestamp"])) == (
        "7777777770",
        "created",  # statusCode pre-transit
        "2018-03-02T06:53:47Z",
    )
    [estimate] = pipeline.estimates("7777777770")
    assert utc(estimate["estimated_at"]) == "2018-08-03T00:00:00Z"


# Webhook signatures ---------------------------------------------------------------

BODY = b'{"object":"Event","description":"tracker.updated"}'


def test_an_easypost_signature_is_checked_with_the_nfkd_secret() -> None:
    secret = "ﬁle-secret"  # the ligature: EasyPost keys with "file-secret"
    digest = hmac.new(b"file-secret", BODY, hashlib.sha256).hexdigest()
    check = FORMATS["easypost"].signature
    assert check is not None and FORMATS["easypost"].signature_header == "x-hmac-signature"
    assert check({"x-hmac-signature": f"hmac-sha256-hex={digest}"}, BODY, secret)
    assert not check({"x-hmac-signature": f"hmac-sha256-hex={digest}"}, BODY + b" ", secret)
    assert not check({"x-hmac-signature": f"hmac-sha256-hex={digest}"}, BODY, "other")
    assert not check({"x-hmac-signature": digest}, BODY, secret)
    assert not check({}, BODY, secret)
    assert easypost.easypost_signed is check


def test_an_aftership_signature_is_base64_of_the_hmac() -> None:
    signed = base64.b64encode(hmac.new(b"s3cret", BODY, hashlib.sha256).digest()).decode()
    check = FORMATS["aftership"].signature
    assert check is aftership.aftership_signed
    assert FORMATS["aftership"].signature_header == "aftership-hmac-sha256"
    assert check({"aftership-hmac-sha256": signed}, BODY, "s3cret")
    assert not check({"aftership-hmac-sha256": signed}, BODY, "wrong")
    assert not check({"aftership-hmac-sha256": "bm90IGl0"}, BODY, "s3cret")
    assert not check({}, BODY, "s3cret")


def test_shippo_does_not_sign_its_webhooks() -> None:
    assert FORMATS["shippo"].signature is None
    assert "does not sign" in (shippo.__doc__ or "")


# The command line -------------------------------------------------------------------


def test_the_cli_reads_a_tracker_file_by_its_content(shipline: Shipline) -> None:
    done = shipline("ingest", str(SAMPLES / "aftership-tracking-fedex-intl.json"))
    assert done.returncode == 0, done.stderr
    assert "14 accepted" in done.stdout
    again = shipline(
        "ingest", "--format", "aftership", str(SAMPLES / "aftership-tracking-fedex-intl.json")
    )
    assert again.returncode == 0, again.stderr
    assert "14 duplicate" in again.stdout


def test_a_member_that_is_no_tracker_is_refused_and_the_rest_goes_on(pipeline: Pipeline) -> None:
    tracker = sample("easypost-tracker-retrieve.json")
    result = pipeline.ingest_feed(feed([tracker, 7]), "easypost", "list")
    assert (result.accepted, result.rejected) == (2, 1)
