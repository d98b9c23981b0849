"""ANSI X12 214 (Transportation Carrier Shipment Status) messages as shipline records.

The file is read with the delimiters each ISA header declares (``x12_envelope``), so
one file may hold many interchanges (ISA/IEA), groups (GS/GE) and transactions
(ST/SE). Each ST 214 transaction is one shipment's status message; any other
transaction set is skipped and counted. The rules:

* The shipment key is B10-02 (the shipper's shipment id), else B10-01 (the carrier's
  PRO number); the other, and every L11 whose qualifier names the shipment (BM bill
  of lading, PO, CN PRO number, ...), become references, as do MS2 trailers and
  containers. B10-03, the SCAC, is the carrier.
* Each AT7 is one status, written ``x12:CODE`` (AT7-01) and mapped by
  ``x12_codes.json``; AT7-02, the reason, is kept in ``event_data`` with AT8's
  weight and quantity. An AT7 that announces a time to come (AG estimated delivery,
  or an appointment in AT7-03 with AT7-01 empty) and a G62 estimated or scheduled
  date are estimates, never events.
* AT7-05/06/07 is the instant: UT is UTC, ES/CD/... are fixed offsets, ET/CT/MT/PT
  are US zones (a wall time that happens twice is its first instant; one the clocks
  skip is refused), and LT or no time code is local time, sent without an offset for
  the location's or the ``[sources.x12]`` zone to resolve.
* MS1 is the location: ``CITY-ST-CC`` (upper case, spaces collapsed, a missing
  part left empty and trailing empty parts dropped), or ``LAT,LONG`` in decimal
  degrees (4 places) when it only gives coordinates.
* The event id is a hash of the shipment key, the status code, its date and time
  and the location: a resend (with new control numbers) is a duplicate, and two
  statuses at the same instant stay two events.

A transaction without B10, or an AT7 whose date is not a date, becomes a dead letter
that names the segment and element; the rest of the file goes on.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shipline.events.formats.base import Format, Imported, code_table
from shipline.events.formats.x12_envelope import (
    Interchange,
    Segment,
    delimiters_at,
    element,
    interchanges,
    transactions,
    x12_document,
)
from shipline.events.json_records import Unparsable

_CODES = code_table("x12_codes.json")


def _table(name: str) -> dict[str, str]:
    """A code table without its ``_`` notes."""
    return {code: value for code, value in _CODES[name].items() if not code.startswith("_")}


STATUSES = _table("statuses")
STATUS_ESTIMATES = _table("status_estimates")
APPOINTMENTS = _table("appointments")
NOT_MOVEMENTS = _table("not_movements")
DATE_ESTIMATES = _table("date_estimates")
TIME_CODES = _table("time_codes")
REFERENCES = _table("references")
CONTAINERS = _table("containers")

EVENT_TYPE_ALIASES: dict[str, str] = {f"x12:{code}": kind for code, kind in STATUSES.items()}
"""The X12 214 status codes every installation maps, as ``event_type`` aliases."""

_DATE = re.compile(r"\d{8}")


# Mapping a 214 ---------------------------------------------------------------------


def x12_records(document: Any) -> Imported:
    """The records of an X12 file's text (or bytes): one per AT7 status, estimate or
    refused part, with the transactions that are not 214s counted by kind."""
    text = x12_document(document) if isinstance(document, bytes) else str(document)
    imported = Imported()
    for interchange in interchanges(text, imported.skipped):
        for transaction in transactions(interchange.segments):
            kind = element(transaction[0], 1)
            if kind != "214":
                imported.skipped[f"x12 {kind or 'unnamed'} transaction (not a 214)"] += 1
                continue
            imported.records.extend(_shipment_status(interchange, transaction, imported.skipped))
    return imported


@dataclass(frozen=True)
class _Shipment:
    """What a 214's heading says of the shipment every status in it is about."""

    key: str
    carrier: str | None
    references: list[dict[str, str]]
    l11: dict[str, str]
    b10: Segment


def _shipment_status(
    interchange: Interchange, transaction: list[Segment], skipped: Counter[str]
) -> list[Any]:
    parts = _Parts.of(transaction)
    b10 = parts.b10
    if b10 is None:
        return [
            Unparsable(
                interchange.text(transaction),
                "B10: the 214 transaction has no B10 segment, so it names no shipment;"
                " send B10 with B10-02 (shipment id) or B10-01 (carrier's reference number)",
            )
        ]
    pro, shipment_number = element(b10, 1), element(b10, 2)
    key = shipment_number or pro
    if not key:
        return [
            Unparsable(
                interchange.text(transaction),
                "B10: neither B10-02 (shipment identification number) nor B10-01"
                " (carrier's reference number) is given, so the message names no shipment",
            )
        ]
    l11 = [_l11(segment) for segment in parts.l11]
    shipment = _Shipment(
        key=key,
        carrier=element(b10, 3) or None,
        references=_references(key, pro, l11),
        l11={qualifier: value for value, qualifier in l11 if qualifier and value},
        b10=b10,
    )
    records: list[Any] = []
    for loop in parts.loops:
        records.extend(_loop_records(interchange, shipment, loop, skipped))
    for segment in parts.g62:
        if element(segment, 1) in DATE_ESTIMATES:
            records.append(_date_estimate(interchange, shipment, segment))
    if not records:
        skipped["x12 214 without a status (no AT7)"] += 1
        if shipment.references:
            records.append({"shipment_id": key, "references": shipment.references})
    return records


@dataclass(frozen=True)
class _Parts:
    """A 214's segments that matter, found in one pass: B10, every L11 and G62, and
    the LX loops with an AT7 (the segments before the first LX form one too, for
    AT7s a sender put in the heading)."""

    b10: Segment | None
    l11: list[Segment]
    g62: list[Segment]
    loops: list[list[Segment]]

    @classmethod
    def of(cls, transaction: list[Segment]) -> _Parts:
        b10: Segment | None = None
        l11: list[Segment] = []
        g62: list[Segment] = []
        loops: list[list[Segment]] = [[]]
        with_status: set[int] = set()
        for segment in transaction:
            tag = segment[0]
            if tag == "LX":
                loops.append([])
            elif tag == "AT7":
                with_status.add(len(loops) - 1)
            elif tag == "L11":
                l11.append(segment)
            elif tag == "G62":
                g62.append(segment)
            elif tag == "B10" and b10 is None:
                b10 = segment
            loops[-1].append(segment)
        return cls(b10, l11, g62, [loops[i] for i in sorted(with_status)])


def _loop_records(
    interchange: Interchange, shipment: _Shipment, loop: list[Segment], skipped: Counter[str]
) -> list[Any]:
    """Each AT7 of an LX loop with its MS1/MS2; AT8 and L11 apply to the loop."""
    details = _loop_details(loop)
    statuses: list[_Status] = []
    following = False  # whether the segment is right after an AT7 or its MS1/MS2
    for segment in loop:
        tag = segment[0]
        if tag == "AT7":
            statuses.append(_Status(segment, []))
            following = True
        elif following and tag in ("MS1", "MS2"):
            statuses[-1].places.append(segment)
        else:
            following = False
    records = [_status_record(interchange, shipment, s, details, skipped) for s in statuses]
    return [record for record in records if record is not None]


@dataclass(frozen=True)
class _Status:
    """One AT7 and the MS1/MS2 segments that follow it."""

    at7: Segment
    places: list[Segment]

    def location(self) -> str | None:
        ms1 = next((s for s in self.places if s[0] == "MS1"), None)
        return location_id(ms1) if ms1 is not None else None

    def equipment(self) -> list[dict[str, str]]:
        return [found for s in self.places if s[0] == "MS2" for found in _equipment(s)]


def _status_record(
    interchange: Interchange,
    shipment: _Shipment,
    status: _Status,
    details: dict[str, Any],
    skipped: Counter[str],
) -> Any:
    at7 = status.at7
    fields = [value.strip() for value in at7[1:8]]
    fields += [""] * (7 - len(fields))
    code, reason, appointment, _, date, time, zone = fields
    code, appointment, zone = code.upper(), appointment.upper(), zone.upper()
    if code in NOT_MOVEMENTS:
        skipped[f"x12 {code} status ({NOT_MOVEMENTS[code]}, not a movement)"] += 1
        return None
    at, problem = instant(date, time, zone, ("AT7-05", "AT7-06", "AT7-07"))
    if problem is not None:
        source = interchange.text([shipment.b10, at7, *status.places])
        return Unparsable(source, problem)
    references = [*shipment.references, *status.equipment()]
    if not code or code in STATUS_ESTIMATES:
        if not code and not appointment:
            source = interchange.text([shipment.b10, at7])
            return Unparsable(
                source, "AT7-01: neither a status (AT7-01) nor an appointment (AT7-03)"
            )
        kind = STATUS_ESTIMATES.get(code) or APPOINTMENTS.get(appointment, "appointment")
        classifier = f"AT7:{code or appointment}"
        estimate = {"kind": kind, "estimated_at": at, "classifier": classifier}
        return _without_empty({"shipment_id": shipment.key, "estimates": [estimate]}, references)
    location = status.location()
    x12 = {"status_code": code, "reason_code": reason, "time_code": zone}
    x12 = {name: value for name, value in x12.items() if value}
    if shipment.l11:
        details = {**details, "references": shipment.l11}
    record: dict[str, Any] = {
        "shipment_id": shipment.key,
        "event_id": event_id(shipment.key, code, date, time, location),
        "event_timestamp": at,
        "event_type": f"x12:{code}",
        "location_id": location,
        "carrier": shipment.carrier,
        "event_data": {"x12": {**x12, **details}},
    }
    return _without_empty(record, references)


def _date_estimate(interchange: Interchange, shipment: _Shipment, g62: Segment) -> Any:
    """A G62 estimated or scheduled date (midnight when it gives no time)."""
    qualifier = element(g62, 1)
    time = element(g62, 4) or "0000"
    at, problem = instant(
        element(g62, 2), time, element(g62, 5).upper(), ("G62-02", "G62-04", "G62-05")
    )
    if problem is not None:
        return Unparsable(interchange.text([shipment.b10, g62]), problem)
    estimate = {
        "kind": DATE_ESTIMATES[qualifier],
        "estimated_at": at,
        "classifier": f"G62:{qualifier}",
    }
    return _without_empty(
        {"shipment_id": shipment.key, "estimates": [estimate]}, shipment.references
    )


def _without_empty(record: dict[str, Any], references: list[dict[str, str]]) -> dict[str, Any]:
    found = {name: value for name, value in record.items() if value is not None}
    if references:
        found["references"] = _unique(references)
    return found


# Fields ----------------------------------------------------------------------------


def instant(date: str, time: str, code: str, names: tuple[str, str, str]) -> tuple[str, str | None]:
    """An X12 date, time and time code as RFC 3339 text (without an offset when the
    time is local), or the reason it is not an instant, naming the elements."""
    date_name, time_name, code_name = names
    wall, problem = _wall_time(date, time, date_name, time_name)
    if wall is None:
        return "", problem
    zone = TIME_CODES.get(code or "LT")
    if zone is None:
        return "", (
            f"{code_name}: unknown time code {code!r}; use UT, LT, a US or Canadian zone"
            " (ET, CT, MT, PT, ...) or a fixed offset code (ES, ED, CS, ...)"
        )
    if zone == "local":
        return wall.isoformat(), None
    if zone == "UTC":
        return f"{wall.isoformat()}Z", None
    if zone[0] in "+-":
        return f"{wall.isoformat()}{zone}", None
    return _in_zone(wall, ZoneInfo(zone), code, f"{date_name}/{time_name}")


def _wall_time(
    date: str, time: str, date_name: str, time_name: str
) -> tuple[datetime | None, str | None]:
    """A CCYYMMDD date and HHMM[SS[D[D]]] time as a wall-clock time, or why not."""
    if len(date) == 8 and date.isdigit() and len(time) in (4, 6, 7, 8) and time.isdigit():
        fraction = int(time[6:].ljust(6, "0")) if len(time) > 6 else 0
        try:
            clock = (int(time[:2]), int(time[2:4]), int(time[4:6] or 0), fraction)
            return datetime(int(date[:4]), int(date[4:6]), int(date[6:]), *clock), None
        except ValueError:
            pass  # which of the two is wrong is told below
    try:
        if not _DATE.fullmatch(date):
            raise ValueError("it needs eight digits")
        datetime(int(date[:4]), int(date[4:6]), int(date[6:]))
    except ValueError as error:
        return None, f"{date_name}: {date!r} is not a date CCYYMMDD ({error})"
    if not time:
        return None, f"{time_name}: the status on {date} has no time"
    return None, f"{time_name}: {time!r} is not a time HHMM[SS[D[D]]]"


def _in_zone(wall: datetime, zone: ZoneInfo, code: str, names: str) -> tuple[str, str | None]:
    """A wall time in a zone: the first instant when it happens twice, refused when the
    clocks skip it (DESIGN 2a: any instant chosen for it would be a guess)."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return "", (
            f"{names}: {wall.isoformat()} does not exist in {zone.key} (time code {code}):"
            " the clocks skip it at a daylight-saving change; send it in UT or with a"
            " fixed offset time code (ES, ED, CS, ...)"
        )
    return first.isoformat(), None


def location_id(ms1: Segment) -> str | None:
    """MS1 as a location id: ``CITY-ST-CC``, else ``LAT,LONG`` from MS1-04..07."""
    names = [" ".join(element(ms1, n).upper().split()) for n in (1, 2, 3)]
    if names[0]:
        while not names[-1]:
            names.pop()
        return "-".join(names)
    longitude = _degrees(element(ms1, 4), element(ms1, 6).upper(), "W")
    latitude = _degrees(element(ms1, 5), element(ms1, 7).upper(), "S")
    if longitude is None or latitude is None:
        return None
    return f"{latitude:.4f},{longitude:.4f}"


def _degrees(code: str, direction: str, negative: str) -> float | None:
    """An MS1 longitude or latitude code, DDDMMSS, as signed decimal degrees."""
    if not code.isdigit() or len(code) < 5:
        return None
    value = int(code[:-4]) + int(code[-4:-2]) / 60 + int(code[-2:]) / 3600
    return -value if direction == negative else value


def event_id(key: str, code: str, date: str, time: str, location: str | None) -> str:
    """What stays the same when a carrier sends a status again (not its control number)."""
    stable = "\x1f".join((key, code, date, time, location or ""))
    return "x12-" + hashlib.sha256(stable.encode()).hexdigest()[:32]


def _references(key: str, pro: str, l11: list[tuple[str, str]]) -> list[dict[str, str]]:
    found = [{"type": "pro_number", "reference": pro}] if pro and pro != key else []
    for value, qualifier in l11:
        if value and value != key and qualifier in REFERENCES:
            found.append({"type": REFERENCES[qualifier], "reference": value})
    return _unique(found)


def _l11(segment: Segment) -> tuple[str, str]:
    """An L11's reference number and qualifier."""
    return element(segment, 1), element(segment, 2).upper()


def _equipment(ms2: Segment) -> list[dict[str, str]]:
    """An MS2 trailer or container as a reference: initial and number, plus the check
    digit when MS2-04 gives it for a six-digit container number."""
    initial, number = element(ms2, 1), element(ms2, 2)
    if not number:
        return []
    kind = "container" if element(ms2, 3).upper() in CONTAINERS else "trailer"
    check = element(ms2, 4)
    if kind == "container" and len(number) == 6 and len(check) == 1 and check.isdigit():
        number += check
    return [{"type": kind, "reference": f"{initial}{number}"}]


def _loop_details(loop: list[Segment]) -> dict[str, Any]:
    """AT8's weight, quantity and volume, as ``event_data`` keeps them."""
    at8 = next((s for s in loop if s[0] == "AT8"), None)
    if at8 is None:
        return {}
    weight = {"qualifier": element(at8, 1), "unit": element(at8, 2), "value": _number(at8, 3)}
    volume = {"unit": element(at8, 6), "value": _number(at8, 7)}
    details: dict[str, Any] = {
        "weight": {k: v for k, v in weight.items() if v not in ("", None)},
        "lading_quantity": _number(at8, 4),
        "volume": {k: v for k, v in volume.items() if v not in ("", None)},
    }
    return {name: value for name, value in details.items() if value not in ({}, None)}


def _number(segment: Segment, position: int) -> int | float | str | None:
    text = element(segment, position)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _unique(references: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    found = []
    for reference in references:
        pair = (reference["type"], reference["reference"])
        if pair not in seen:
            seen.add(pair)
            found.append(reference)
    return found


def _sniff(data: bytes, _document: Any) -> bool:
    """An ISA header: ``ISA``, its element separator and 16 elements in 106 characters."""
    head = data[:512].removeprefix(b"\xef\xbb\xbf").lstrip()
    if not head.startswith(b"ISA") or len(head) < 106:
        return False
    text = head.decode("latin-1")
    return delimiters_at(text, 0) is not None


FORMAT = Format(
    name="x12",
    title="ANSI X12 214 Transportation Carrier Shipment Status",
    records=x12_records,
    sniff=_sniff,
    parse=x12_document,
    event_type_aliases=EVENT_TYPE_ALIASES,
    source_fields={
        "shipment_id": "B10-02 or B10-01",
        "event_id": "a hash of B10, AT7-01, AT7-05, AT7-06 and MS1",
        "event_timestamp": "AT7-05/AT7-06/AT7-07",
        "event_type": "AT7-01",
        "location_id": "MS1",
        "carrier": "B10-03",
    },
)
