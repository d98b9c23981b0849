"""UPS Track API answers (``trackResponse.shipment[].package[]``).

Each package is a tracker: its ``trackingNumber`` is the shipment key (the
shipment's ``inquiryNumber`` and the package's reference numbers become
references), each of ``activity`` a checkpoint coded by its ``status.type``
(``ups:I``, ``ups:D``; the detailed ``status.code`` is kept in ``event_data``).
Its time is ``date`` and ``time`` (``20220126``, ``163000``), the place's local
time: with ``gmtOffset`` when UPS gives it, else resolved by the pipeline. UPS's
delivery dates are days without a time; they are counted, not stored.
"""

from __future__ import annotations

from typing import Any

from shipline.events.formats.base import Format, Imported
from shipline.events.formats.tracking import (
    Checkpoint,
    Codes,
    Estimate,
    Place,
    Tracker,
    at,
    listed,
    local_time,
    objects,
    tracker_records,
)

CODES = Codes.load("ups", "ups_codes.json")


def ups_records(document: Any) -> Imported:
    """The records of a Track API answer (or an array of them)."""
    imported = Imported()
    for found in objects(document, _packages):
        if isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _packages(value: Any) -> list[Any]:
    shipments = at(value, "trackResponse", "shipment")
    if not isinstance(shipments, list):
        return [value]
    packages: list[Any] = []
    for shipment in shipments:
        for package in listed(at(shipment, "package")):
            if isinstance(package, dict):
                package = {"_inquiry": at(shipment, "inquiryNumber"), **package}
            packages.append(package)
    return packages


def _tracker(package: dict[str, Any]) -> Tracker:
    scheduled = [
        entry
        for entry in listed(package.get("deliveryDate"))
        if isinstance(entry, dict) and entry.get("type") in ("SDD", "RDD")
    ]
    return Tracker(
        tracking_number=package.get("trackingNumber"),
        carrier="ups",
        checkpoints=[_checkpoint(activity) for activity in listed(package.get("activity"))],
        references=[
            ("tracking_number", package.get("_inquiry")),
            *[
                ("reference", at(entry, "number"))
                for entry in listed(package.get("referenceNumber"))
            ],
        ],
        estimates=[
            Estimate(entry.get("date"), "carrier", where=f"deliveryDate {entry.get('type')}")
            for entry in scheduled
        ],
    )


def _checkpoint(activity: Any) -> Checkpoint:
    activity = activity if isinstance(activity, dict) else {}
    address = at(activity, "location", "address") or {}
    status = activity.get("status") or {}
    return Checkpoint(
        at=local_time(activity.get("date"), activity.get("time"), activity.get("gmtOffset")),
        code=at(status, "type"),
        message=at(status, "description"),
        place=Place(
            at(address, "countryCode") or at(address, "country"),
            at(address, "stateProvince"),
            at(address, "city"),
            at(address, "postalCode"),
        ),
        details={"status_code": at(status, "code"), "status": at(status, "statusCode")},
    )


def _sniff(_data: bytes, document: Any) -> bool:
    """A Track API answer: ``trackResponse.shipment``."""
    first = document[0] if isinstance(document, list) and document else document
    return isinstance(at(first, "trackResponse", "shipment"), list)


FORMAT = Format(
    name="ups",
    title="UPS Track API answers",
    records=ups_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "package[].trackingNumber",
        "event_id": "a hash of the tracking number and the activity's date and time, status"
        " type, place and description",
        "event_timestamp": "activity[].date and time (and gmtOffset)",
        "event_type": "activity[].status.type",
        "location_id": "activity[].location.address (countryCode/stateProvince/city/postalCode)",
        "references": "shipment[].inquiryNumber, referenceNumber[].number",
    },
)
