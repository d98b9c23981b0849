"""ANSI X12 214 shipment status files go in unchanged (DESIGN 2a): each AT7 is a
status on the timeline of the shipment B10 names, estimates and appointments go
beside it, the time codes become instants, and a bad part is refused in the
source's own terms while the rest of the file goes on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipline.errors import ValidationError
from shipline.events.formats import detect_format, x12
from shipline.pipeline import Pipeline
from tests.conftest import Shipline

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x12"
CANADA_POST = (FIXTURES / "x12-214-canadapost-19.edi").read_bytes()
EDIFABRIC = (FIXTURES / "x12-214-edifabric-single.edi").read_bytes()


def isa(element: str = "*", component: str = ">", segment: str = "~", control: int = 1) -> str:
    """An ISA header of the standard's fixed width (106 characters)."""
    fields = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "SENDER".ljust(15), "ZZ"]
    fields += ["RECEIVER".ljust(15), "261103", "1800", "U", "00401", f"{control:09d}", "0", "P"]
    return element.join([*fields, component]) + segment


def interchange(
    *messages: list[str], element: str = "*", segment: str = "~", newline: str = "\n"
) -> str:
    """An interchange of one group of ``messages`` (segments written with ``*``)."""
    body = ["GS*QM*SENDER*RECEIVER*20261103*1800*1*X*004010"]
    body += [s for message in messages for s in message]
    body += [f"GE*{len(messages)}*1", "IEA*1*000000001"]
    lines = [s.replace("*", element) + segment for s in body]
    return isa(element, segment=segment) + newline + newline.join(lines) + newline


def status(number: int, *segments: str, st: str = "214") -> list[str]:
    """An ST..SE transaction of ``segments``."""
    control = f"{number:04d}"
    return [f"ST*{st}*{control}", *segments, f"SE*{len(segments) + 2}*{control}"]


def ingest(pipeline: Pipeline, text: str | bytes, source: str = "carrier.edi") -> Any:
    data = text.encode() if isinstance(text, str) else text
    return pipeline.ingest_feed(data, None, source)


def utc(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def zone_of(pipeline: Pipeline, location_id: str, zone: str) -> None:
    pipeline.backend.execute(
        "INSERT INTO locations (location_id, location_name, timezone) VALUES (?, ?, ?)",
        [location_id, location_id, zone],
    )


# The two samples ------------------------------------------------------------------


def test_the_canada_post_feed_is_19_statuses_of_16_shipments(pipeline: Pipeline) -> None:
    # Its first status has no time code: local time at WRENCH, Ontario.
    zone_of(pipeline, "WRENCH-ON-CA", "America/Toronto")
    result = ingest(pipeline, CANADA_POST)
    assert (result.received, result.accepted, result.rejected) == (19, 19, 0)
    stored = pipeline.backend.scalar("SELECT count(DISTINCT shipment_id) FROM shipment_events")
    assert stored == 16
    pipeline.incremental()
    # One parcel, three messages: departed Nailgun BC (PT), delivery not completed and
    # departed Laserlevel AB (MT, the day the clocks went back: standard time).
    rows = pipeline.timeline("4343638316026577")
    assert [(r["event_type"], r["location_id"], utc(r["event_timestamp"])) for r in rows] == [
        ("departed_facility", "NAILGUN-BC-CA", datetime(2019, 11, 2, 22, 55, tzinfo=UTC)),
        ("delivery_attempted", "LASERLEVEL-AB-CA", datetime(2019, 11, 3, 15, 15, tzinfo=UTC)),
        ("departed_facility", "LASERLEVEL-AB-CA", datetime(2019, 11, 3, 15, 37, tzinfo=UTC)),
    ]
    assert {r["carrier"] for r in rows} == {"CPCC"}
    [acknowledged] = pipeline.timeline("4343638097845589")
    assert acknowledged["event_type"] == "created"
    assert utc(acknowledged["event_timestamp"]) == datetime(2019, 11, 3, 20, 34, tzinfo=UTC)
    [delivered] = pipeline.timeline("4343638098146166")
    assert delivered["status"] == "delivered"
    [cancelled] = pipeline.timeline("4343638931638575")
    assert cancelled["status"] == "cancelled"


def test_a_package_number_in_l11_finds_the_shipment(pipeline: Pipeline) -> None:
    zone_of(pipeline, "WRENCH-ON-CA", "America/Toronto")
    ingest(pipeline, CANADA_POST)
    pipeline.incremental()
    assert pipeline.references("4343638931638575") == [
        {"reference_type": "package_number", "reference": "3001100072"}
    ]
    [row] = pipeline.timeline("3001100072")
    assert row["shipment_id"] == "4343638931638575"


def test_the_reason_and_the_weight_stay_in_event_data() -> None:
    records = x12.FORMAT.read(CANADA_POST).records
    attempted = next(r for r in records if r["shipment_id"] == "4343638098050296")
    assert attempted["event_type"] == "x12:AH"
    assert attempted["event_data"]["x12"] == {
        "status_code": "AH",
        "reason_code": "AG",
        "time_code": "PT",
        "weight": {"qualifier": "G", "unit": "K", "value": 0},
        "references": {"97": "4343638098050296", "86": "0156"},
    }


def test_without_a_zone_the_local_status_is_refused_with_both_fixes(pipeline: Pipeline) -> None:
    result = ingest(pipeline, CANADA_POST)
    assert (result.accepted, result.rejected) == (18, 1)
    [error] = result.errors[0].errors
    assert error.startswith(
        'event_timestamp (AT7-05/AT7-06/AT7-07): "2019-11-03T15:34:00" has no UTC offset'
    )
    assert "[sources.NAME] timezone" in error


def test_the_edifabric_sample_keys_by_pro_number_and_places_by_coordinates(
    pipeline: Pipeline,
) -> None:
    result = ingest(pipeline, EDIFABRIC)
    assert (result.accepted, result.rejected) == (1, 0)
    pipeline.incremental()
    [row] = pipeline.timeline("123456")
    # X3 at 08:30 Central (daylight time in September), 43°18'36"N 91°47'26"W.
    assert (row["event_type"], row["carrier"], row["location_id"]) == (
        "picked_up",
        "BAWC",
        "43.3100,-91.7906",
    )
    assert utc(row["event_timestamp"]) == datetime(1997, 9, 25, 13, 30, tzinfo=UTC)
    assert pipeline.references("123456") == [
        {"reference_type": "equipment", "reference": "55555555"}
    ]


# Resends and line breaks --------------------------------------------------------------


def test_a_resend_is_all_duplicates_even_with_new_control_numbers(pipeline: Pipeline) -> None:
    zone_of(pipeline, "WRENCH-ON-CA", "America/Toronto")
    assert ingest(pipeline, CANADA_POST).accepted == 19
    again = ingest(pipeline, CANADA_POST)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 19, 0)
    renumbered = re.sub(rb"(ST\*214\*|SE\*\d+\*)0", rb"\g<1>9", CANADA_POST)
    assert renumbered != CANADA_POST
    resent = ingest(pipeline, renumbered, "resend.edi")
    assert (resent.accepted, resent.duplicates, resent.rejected) == (0, 19, 0)


def test_crlf_line_breaks_read_the_same() -> None:
    crlf = CANADA_POST.replace(b"\n", b"\r\n")
    assert x12.FORMAT.read(crlf).records == x12.FORMAT.read(CANADA_POST).records
    tilde_crlf = EDIFABRIC.replace(b"~\n", b"~\r\n")
    assert x12.FORMAT.read(tilde_crlf).records == x12.FORMAT.read(EDIFABRIC).records


def test_each_interchange_is_read_with_its_own_separators() -> None:
    arrived = ["B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*X1*NS***20261103*1015*UT", "MS1*DALLAS*TX*US"]
    delivered = ["B10*PRO2*SHIP2*WXYZ", "LX*1", "AT7*D1*NS***20261103*1130*UT"]
    first = interchange(status(1, *arrived))
    second = interchange(status(1, *delivered), element="|", segment="'", newline="")
    records = x12.FORMAT.read((first + second).encode()).records
    assert [(r["shipment_id"], r["event_type"], r["event_timestamp"]) for r in records] == [
        ("SHIP1", "x12:X1", "2026-11-03T10:15:00Z"),
        ("SHIP2", "x12:D1", "2026-11-03T11:30:00Z"),
    ]
    assert records[0]["location_id"] == "DALLAS-TX-US"
    assert records[0]["references"] == [{"type": "pro_number", "reference": "PRO1"}]


def test_an_interchange_cut_short_ends_where_the_next_isa_begins() -> None:
    arrived = ["B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*X1*NS***20261103*1015*UT"]
    delivered = ["B10*PRO2*SHIP2*WXYZ", "LX*1", "AT7*D1*NS***20261103*1130*UT"]
    cut = interchange(status(1, *arrived)).replace("IEA*1*000000001~\n", "")
    second = interchange(status(1, *delivered), element="|", segment="'", newline="")
    records = x12.FORMAT.read((cut + second).encode()).records
    assert [r["shipment_id"] for r in records] == ["SHIP1", "SHIP2"]


def test_other_transaction_sets_are_skipped_and_counted(pipeline: Pipeline) -> None:
    invoice = status(1, "B3**INV1*PP", st="210")
    arrived = status(2, "B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*X1*NS***20261103*1015*UT")
    result = ingest(pipeline, interchange(invoice, arrived, invoice))
    assert result.accepted == 1
    assert result.skipped == {"x12 210 transaction (not a 214)": 2}


# Times ---------------------------------------------------------------------------------


def at7_time(date: str, time: str, code: str) -> str:
    message = status(1, "B10*PRO1*SHIP1*ABCD", "LX*1", f"AT7*X6*NS***{date}*{time}*{code}")
    [record] = x12.FORMAT.read(interchange(message).encode()).records
    return str(record["event_timestamp"]) if isinstance(record, dict) else record.reason


@pytest.mark.parametrize(
    ("date", "time", "code", "expected"),
    [
        ("20260708", "0930", "UT", "2026-07-08T09:30:00Z"),
        ("20260708", "0930", "GM", "2026-07-08T09:30:00Z"),
        ("20260708", "093015", "ET", "2026-07-08T09:30:15-04:00"),
        ("20260108", "0930", "ET", "2026-01-08T09:30:00-05:00"),
        ("20260708", "0930", "CS", "2026-07-08T09:30:00-06:00"),
        ("20260708", "0930", "PD", "2026-07-08T09:30:00-07:00"),
        ("20260708", "09301525", "NT", "2026-07-08T09:30:15.250000-02:30"),
        ("20260708", "0930", "LT", "2026-07-08T09:30:00"),
        ("20260708", "0930", "", "2026-07-08T09:30:00"),
        # 01:30 Eastern happens twice on 2026-11-01: the first, daylight, instant.
        ("20261101", "0130", "ET", "2026-11-01T01:30:00-04:00"),
    ],
)
def test_time_codes_become_instants(date: str, time: str, code: str, expected: str) -> None:
    assert at7_time(date, time, code) == expected


def test_a_wall_time_the_clocks_skip_is_refused_with_its_zone(pipeline: Pipeline) -> None:
    # 02:30 Eastern never happens on 2026-03-08; the status after it is kept.
    message = status(
        1,
        "B10*PRO1*SHIP1*ABCD",
        "LX*1",
        "AT7*X6*NS***20260308*0230*ET",
        "LX*2",
        "AT7*X1*NS***20260308*0330*ET",
    )
    result = ingest(pipeline, interchange(message))
    assert (result.accepted, result.rejected) == (1, 1)
    reason = result.errors[0].errors[0]
    assert reason.startswith(
        "AT7-05/AT7-06: 2026-03-08T02:30:00 does not exist in America/New_York"
    )
    [letter] = pipeline.dead_letters()
    assert "AT7*X6*NS***20260308*0230*ET" in letter["payload"]


def test_a_bad_date_is_refused_naming_at7_05_and_the_rest_is_kept(pipeline: Pipeline) -> None:
    message = status(
        1,
        "B10*PRO1*SHIP1*ABCD",
        "LX*1",
        "AT7*X3*NS***20260230*0800*UT",
        "LX*2",
        "AT7*AF*NS***20260301*0900*UT",
        "LX*3",
        "AT7*X1*NS***2026031*1700*UT",
    )
    result = ingest(pipeline, interchange(message))
    assert (result.accepted, result.rejected) == (1, 2)
    reasons = [error.errors[0] for error in result.errors]
    assert reasons == [
        "AT7-05: '20260230' is not a date CCYYMMDD (day is out of range for month)",
        "AT7-05: '2026031' is not a date CCYYMMDD (it needs eight digits)",
    ]


def test_an_unknown_time_code_is_refused_naming_at7_07() -> None:
    assert at7_time("20260708", "0930", "QQ").startswith("AT7-07: unknown time code 'QQ'")


# Shipments, references and estimates --------------------------------------------------


def test_a_transaction_without_b10_is_refused_and_the_next_goes_on(pipeline: Pipeline) -> None:
    orphan = status(1, "L11*REF1*BM", "LX*1", "AT7*X1*NS***20261103*1015*UT")
    kept = status(2, "B10*PRO2*SHIP2*ABCD", "LX*1", "AT7*D1*NS***20261103*1130*UT")
    result = ingest(pipeline, interchange(orphan, kept))
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.errors[0].errors[0].startswith("B10: the 214 transaction has no B10 segment")


def test_the_shipment_id_is_the_key_and_the_pro_number_a_reference(pipeline: Pipeline) -> None:
    message = status(
        1,
        "B10*PRO-77*SHIP-77*ABCD",
        "L11*BOL-9*BM",
        "L11*PO-4*PO",
        "L11*0410*86",
        "LX*1",
        "AT7*X1*NS***20261103*1015*UT",
        "MS1*Salt  Lake city*ut*us",
        "MS2*MSCU*123456*CN*7",
        "LX*2",
        "AT7*D1*NS***20261103*1130*UT",
        "MS2*ABCD*TR001*TL",
    )
    result = ingest(pipeline, interchange(message))
    assert result.accepted == 2
    pipeline.incremental()
    rows = pipeline.timeline("BOL-9")
    assert [(r["shipment_id"], r["location_id"]) for r in rows] == [
        ("SHIP-77", "SALT LAKE CITY-UT-US"),
        ("SHIP-77", None),
    ]
    assert {(r["reference_type"], r["reference"]) for r in pipeline.references("SHIP-77")} == {
        ("pro_number", "PRO-77"),
        ("bill_of_lading", "BOL-9"),
        ("purchase_order", "PO-4"),
        ("container", "MSCU1234567"),
        ("trailer", "ABCDTR001"),
    }


def test_two_statuses_at_the_same_instant_are_two_events(pipeline: Pipeline) -> None:
    message = status(
        1,
        "B10*PRO1*SHIP1*ABCD",
        "LX*1",
        "AT7*X1*NS***20261103*1015*UT",
        "AT7*D1*NS***20261103*1015*UT",
    )
    assert ingest(pipeline, interchange(message)).accepted == 2
    pipeline.incremental()
    assert [r["event_type"] for r in pipeline.timeline("SHIP1")] in (
        ["arrived_at_facility", "delivered"],
        ["delivered", "arrived_at_facility"],
    )


def test_estimates_and_appointments_go_beside_the_timeline(pipeline: Pipeline) -> None:
    message = status(
        1,
        "B10*PRO1*SHIP1*ABCD",
        "N1*ST*CONSIGNEE",
        "G62*17*20261106*X*1700*UT",
        "LX*1",
        "AT7*X6*NS***20261103*1015*UT",
        "LX*2",
        "AT7***AA**20261101*0800*UT",
    )
    result = ingest(pipeline, interchange(message))
    assert (result.accepted, result.rejected, result.estimates) == (3, 0, 2)
    pipeline.incremental()
    assert [r["event_type"] for r in pipeline.timeline("SHIP1")] == ["in_transit"]
    estimates = {
        e["kind"]: (e["classifier"], utc(e["estimated_at"])) for e in pipeline.estimates("SHIP1")
    }
    assert estimates == {
        "delivery": ("G62:17", datetime(2026, 11, 6, 17, tzinfo=UTC)),
        "pickup": ("AT7:AA", datetime(2026, 11, 1, 8, tzinfo=UTC)),
    }


def test_an_estimated_delivery_status_is_an_estimate_not_an_event() -> None:
    message = status(1, "B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*AG*NS***20261105*1200*ET")
    [record] = x12.FORMAT.read(interchange(message).encode()).records
    assert "event_type" not in record
    assert record["estimates"] == [
        {"kind": "delivery", "estimated_at": "2026-11-05T12:00:00-05:00", "classifier": "AT7:AG"}
    ]


def test_an_unmapped_status_code_is_refused_with_the_alias_that_fixes_it(
    pipeline: Pipeline,
) -> None:
    message = status(1, "B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*ZZ*NS***20261103*1015*UT")
    result = ingest(pipeline, interchange(message))
    [error] = result.errors[0].errors
    assert error.startswith('event_type (AT7-01): unknown value "x12:ZZ"')
    assert "[aliases.event_type]" in error


# Recognising a file --------------------------------------------------------------------


def test_the_samples_are_recognised_and_json_is_not() -> None:
    assert detect_format(CANADA_POST) is x12.FORMAT
    assert detect_format(EDIFABRIC) is x12.FORMAT
    assert not x12.FORMAT.sniff(b'{"ISA": 1}', {"ISA": 1})
    assert not x12.FORMAT.sniff(b"ISA*00*short~", None)


def test_text_that_does_not_start_with_isa_is_refused() -> None:
    with pytest.raises(ValidationError, match="does not start with an ISA"):
        x12.FORMAT.parse(b"GS*QM*CPC*00602679321~")
    assert x12.FORMAT.parse(b"\r\n  " + CANADA_POST).startswith("ISA*00*")


def test_text_that_is_not_utf_8_is_read_as_latin_1() -> None:
    message = status(1, "B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*X1*NS***20261103*1015*UT")
    message.insert(4, "MS1*Montr\u00e9al*QC*CA")
    [record] = x12.FORMAT.read(interchange(message).encode("latin-1")).records
    assert record["location_id"] == "MONTR\u00c9AL-QC-CA"


def test_the_cli_ingests_an_edi_file_as_it_comes(shipline: Shipline, tmp_path: Path) -> None:
    path = tmp_path / "edifabric.edi"
    path.write_bytes(EDIFABRIC)
    done = shipline("ingest", str(path))
    assert done.returncode == 0, done.stderr
    assert "1 accepted" in done.stdout
    named = shipline("ingest", "--format", "x12", str(path))
    assert named.returncode == 0, named.stderr
    assert "1 duplicate" in named.stdout
