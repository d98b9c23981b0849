"""karrio's unified trackers: a ``TrackingDetails`` or tracker object
(``carrier_name``, ``tracking_number``, ``events``), bare, in a tracking answer
(``{"tracking": ...}``) or in a webhook (``{"type": "tracker.updated", "data": ...}``).

The tracking number is the shipment key and ``carrier_name`` the carrier; karrio's
tracker id and the carrier's account id become references. An event is coded by
karrio's unified ``status`` when it has one (``karrio:in_transit``), else by the
carrier's own ``code`` (``karrio:fedex:PU``: add its alias). Its time is
``timestamp``, else ``date`` and ``time`` joined (a local time, resolved by the
pipeline). ``estimated_delivery`` is the delivery estimate when it has an offset.
"""

from __future__ import annotations

import re
from typing import Any

from shipline.events.formats.base import Format, Imported
from shipline.events.formats.tracking import (
    Checkpoint,
    Codes,
    Estimate,
    Tracker,
    at,
    listed,
    objects,
    tracker_records,
)

CODES = Codes.load("karrio", "karrio_codes.json")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$")


def karrio_records(document: Any) -> Imported:
    """The records of a tracker, a tracking answer, a webhook or an array of them."""
    imported = Imported()
    for found in objects(document, _trackers):
        if isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _trackers(value: Any) -> list[Any]:
    for wrapper in ("tracking", "data"):
        if isinstance(at(value, wrapper), dict):
            return [value[wrapper]]
    if isinstance(at(value, "results"), list):  # a page of trackers
        return list(value["results"])
    return [value]


def _tracker(tracker: dict[str, Any]) -> Tracker:
    carrier = tracker.get("carrier_name")
    return Tracker(
        tracking_number=tracker.get("tracking_number"),
        carrier=carrier,
        checkpoints=[_checkpoint(event, carrier) for event in listed(tracker.get("events"))],
        references=[("karrio_tracker", tracker.get("id"))],
        estimates=[
            Estimate(tracker.get("estimated_delivery"), "carrier", where="estimated_delivery")
        ],
    )


def _checkpoint(event: Any, carrier: Any) -> Checkpoint:
    event = event if isinstance(event, dict) else {}
    status = event.get("status")
    code = status if status else f"{carrier or 'unknown'}:{event.get('code') or ''}"
    stamp = event.get("timestamp")
    return Checkpoint(
        at=stamp or _date_time(event.get("date"), event.get("time")),
        code=code,
        message=event.get("description"),
        place=event.get("location"),
        details={"carrier_code": event.get("code"), "reason": event.get("reason")},
    )


def _date_time(date: Any, time: Any) -> Any:
    """karrio's ``2021-02-14`` and ``13:22`` (or ``01:22 PM``) as one local time."""
    if not isinstance(date, str) or not date.strip():
        return date
    match = _CLOCK.match(time.strip()) if isinstance(time, str) else None
    if match is None:  # a day without its time, or a time karrio does not write
        return f"{date.strip()} {time}" if time else date
    hour, minute, second, half = match.groups()
    hours = int(hour)
    if half:
        hours = hours % 12 + (12 if half.lower() == "pm" else 0)
    return f"{date.strip()}T{hours:02d}:{minute}:{second or '00'}"


def _sniff(_data: bytes, document: Any) -> bool:
    """A karrio tracker: ``carrier_name``, ``tracking_number`` and ``events``."""
    found = objects(document, _trackers)[:1] if document is not None else []
    first = found[0] if found else None
    return isinstance(first, dict) and {"carrier_name", "tracking_number", "events"} <= set(first)


FORMAT = Format(
    name="karrio",
    title="karrio unified trackers",
    records=karrio_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "tracking_number",
        "event_id": "a hash of tracking_number and the event's time, status or code, location"
        " and description",
        "event_timestamp": "events[].timestamp, else events[].date and time",
        "event_type": "events[].status, else carrier_name and events[].code",
        "location_id": "events[].location",
        "carrier": "carrier_name",
        "estimates": "estimated_delivery",
        "references": "id",
    },
)
