"""DHL Shipment Tracking - Unified API answers (``{"shipments": [...]}``; karrio
keeps one under ``trackingResponse``).

Each shipment is a tracker: its ``id`` is the shipment key (``details.references``
become references) and each of ``events`` a checkpoint coded by its
``statusCode`` (``dhl:transit``). ``timestamp`` is often the place's local time
without an offset, resolved by the pipeline. ``estimatedTimeOfDelivery`` is the
delivery estimate. The shipment's own ``status`` repeats its newest event and is
not read again.
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
    objects,
    tracker_records,
)

CODES = Codes.load("dhl", "dhl_codes.json")


def dhl_records(document: Any) -> Imported:
    """The records of a tracking answer (or an array of them)."""
    imported = Imported()
    for found in objects(document, _shipments):
        if isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _shipments(value: Any) -> list[Any]:
    answer = (
        at(value, "trackingResponse") if isinstance(at(value, "trackingResponse"), dict) else value
    )
    shipments = at(answer, "shipments")
    return list(shipments) if isinstance(shipments, list) else [value]


def _tracker(shipment: dict[str, Any]) -> Tracker:
    references = at(shipment, "details", "references")
    references = references if isinstance(references, list) else [references]
    return Tracker(
        tracking_number=shipment.get("id"),
        carrier="dhl",
        checkpoints=[_checkpoint(event) for event in listed(shipment.get("events"))],
        references=[
            (str(at(entry, "type") or "reference").lower().replace("-", "_"), at(entry, "number"))
            for entry in references
        ],
        estimates=[
            Estimate(
                shipment.get("estimatedTimeOfDelivery"), "carrier", where="estimatedTimeOfDelivery"
            ),
        ],
    )


def _checkpoint(event: Any) -> Checkpoint:
    event = event if isinstance(event, dict) else {}
    address = at(event, "location", "address") or {}
    return Checkpoint(
        at=event.get("timestamp"),
        code=event.get("statusCode"),
        message=event.get("description"),
        place=Place(
            at(address, "countryCode"),
            None,
            at(address, "addressLocality"),
            at(address, "postalCode"),
        ),
        details={"status": event.get("status"), "remark": event.get("remark")},
    )


def _sniff(_data: bytes, document: Any) -> bool:
    """An answer of ``shipments`` with ``events``, bare or under ``trackingResponse``."""
    first = document[0] if isinstance(document, list) and document else document
    answer = (
        at(first, "trackingResponse") if isinstance(at(first, "trackingResponse"), dict) else first
    )
    shipment = at(answer, "shipments", 0)
    return isinstance(shipment, dict) and isinstance(shipment.get("events"), list)


FORMAT = Format(
    name="dhl",
    title="DHL Shipment Tracking - Unified API answers",
    records=dhl_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "shipments[].id",
        "event_id": "a hash of the id and the event's timestamp, statusCode, place and description",
        "event_timestamp": "shipments[].events[].timestamp",
        "event_type": "shipments[].events[].statusCode",
        "location_id": "events[].location.address (countryCode//addressLocality/postalCode)",
        "estimates": "estimatedTimeOfDelivery",
        "references": "details.references",
    },
)
