"""DCSA Track & Trace 2.2 and 3.0 events as shipline records.

Both versions are read: 2.2's flat ``eventType`` and ``documentReferences``, 3.0's
``eventClassification``, ``shipmentDetails`` and ``equipmentDetails``. The rules:

* ``ACT`` (actual) events are events; ``PLN``/``EST`` ones are estimates of the
  shipment (``eta`` for an arrival, ``etd`` for a departure, ...), never events.
* The shipment key is the transport document (bill of lading), else the booking,
  else the container; every other of them becomes a reference.
* ``eventUpdatedDateTime`` orders revisions and ``isRetracted`` retracts.
* Shipment (document) events are not movements, but for the few that say where
  the shipment is (a booking received, confirmed or cancelled, customs hold and
  release, a release or delivery order, proof of delivery): the others, and IoT
  and reefer events, are skipped and counted by reason, never stored as a row of
  the wrong type.
* The event code is written ``dcsa:TYPE:CODE``; ``dcsa_codes.json`` maps the known
  ones, and an unknown one is refused with the code so an alias can be added.
"""

from __future__ import annotations

from typing import Any

from shipline.events.formats.base import Format, Imported, code_table

_CODES = code_table("dcsa_codes.json")

_DOCUMENT_MOVEMENTS: dict[str, str] = {
    code: kind for code, kind in _CODES["document_movements"].items() if not code.startswith("_")
}

EVENT_TYPE_ALIASES: dict[str, str] = {
    f"dcsa:{code}": event_type for code, event_type in _CODES["movements"].items()
} | {f"dcsa:SHIPMENT:{code}": event_type for code, event_type in _DOCUMENT_MOVEMENTS.items()}
"""The DCSA codes every installation maps, as ``event_type`` aliases."""


def dcsa_records(document: Any) -> Imported:
    """The records of a DCSA body: ``{"events": [...]}`` (3.0), a bare array (2.2) or
    one event (a 3.0 push). A member that is not an object is passed on as it is,
    for validation to refuse with its reason."""
    imported = Imported()
    for event in _events(document):
        if not isinstance(event, dict):
            imported.records.append(event)
            continue
        event_type = str(_classification(event, "eventTypeCode", "eventType") or "")
        code = _code(event, event_type)
        if event_type in _CODES["not_movements"] or (
            event_type == "SHIPMENT" and code not in _DOCUMENT_MOVEMENTS
        ):
            imported.skipped[f"dcsa {event_type} event (not a movement)"] += 1
            continue
        imported.records.append(_record(event, event_type, code))
    return imported


def _events(document: Any) -> list[Any]:
    """The events of a page, of a bare array, or of a list of pages (NDJSON)."""
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        return list(document["events"])
    if isinstance(document, list):
        return [event for item in document for event in _events(item)]
    return [document]


def _code(event: dict[str, Any], event_type: str) -> Any:
    """The event's type code; a SHIPMENT event's is its document's type and code
    (``BKG:CONF``, a booking confirmed)."""
    code = _classification(event, f"{event_type.lower()}EventTypeCode", None)
    if event_type != "SHIPMENT":
        return code
    reference = (event.get("shipmentDetails") or {}).get("documentReference") or {}
    document = event.get("documentTypeCode") or (
        reference.get("typeCode") if isinstance(reference, dict) else None
    )
    return f"{document}:{code}"


def _record(event: dict[str, Any], event_type: str, code: Any) -> dict[str, Any]:
    key = f"{event_type}:{code}"
    names = _names(event)
    shipment_id = next((names[t] for t in _CODES["shipment_key"] if t in names), None)
    references = [
        {"type": _CODES["references"][t], "reference": value}
        for t, value in names.items()
        if value != shipment_id
    ]
    classifier = _classification(event, "eventClassifierCode", "eventClassifierCode")
    at = event.get("eventDateTime")
    if classifier in ("PLN", "EST"):
        kind = _CODES["estimate_kinds"].get(key, str(code or "event").lower())
        estimate = {"kind": kind, "estimated_at": at, "classifier": classifier}
        return {"shipment_id": shipment_id, "estimates": [estimate], "references": references}
    record: dict[str, Any] = {
        "shipment_id": shipment_id,
        "event_id": _trimmed(event.get("eventID")),
        "event_timestamp": at,
        "event_type": f"dcsa:{key}",
        "location_id": _location(event),
        "updated_at": event.get("eventUpdatedDateTime"),
        "retracted": event.get("isRetracted"),
        "event_data": {"dcsa": {"classifier": classifier, "code": code}},
    }
    if references:
        record["references"] = references
    return {name: value for name, value in record.items() if value is not None}


def _classification(event: dict[str, Any], name: str, flat: str | None) -> Any:
    """A 3.0 ``eventClassification`` field, or its 2.2 top-level twin."""
    classification = event.get("eventClassification")
    if isinstance(classification, dict) and name in classification:
        return classification[name]
    return event.get(flat or name)


def _names(event: dict[str, Any]) -> dict[str, str]:
    """The event's transport document (TRD), booking (BKG) and container (EQ)."""
    details = event.get("shipmentDetails") or {}
    lists = (
        # (references, the field of their type, the field of their value)
        ([details.get("documentReference")], "typeCode", "reference"),  # 3.0
        (details.get("additionalDocumentReferences") or [], "typeCode", "reference"),
        (event.get("documentReferences") or [], "documentReferenceType", "documentReferenceValue"),
        (event.get("references") or [], "referenceType", "referenceValue"),  # 2.2
    )
    found: dict[str, str] = {}
    for references, kind, value in lists:
        for reference in references:
            if isinstance(reference, dict):
                _add(found, reference.get(kind), reference.get(value))
    _add(found, event.get("documentTypeCode"), event.get("documentID"))  # 2.2's own document
    equipment = (event.get("equipmentDetails") or {}).get("equipmentReference")
    _add(found, "EQ", equipment or event.get("equipmentReference"))
    return found


def _add(found: dict[str, str], kind: Any, value: Any) -> None:
    if kind in _CODES["references"] and isinstance(value, str) and value.strip():
        found.setdefault(kind, value.strip())


def _location(event: dict[str, Any]) -> str | None:
    for holder in (event.get("eventLocation"), (event.get("transportCall") or {})):
        if isinstance(holder, dict):
            code = holder.get("UNLocationCode") or (holder.get("location") or {}).get(
                "UNLocationCode"
            )
            if isinstance(code, str) and code.strip():
                return code.strip()
    return None


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _sniff(_data: bytes, document: Any) -> bool:
    """A DCSA page, array or push: events with an ``eventType`` or classification."""
    events = _events(document) if document is not None else []
    first = events[0] if events else None
    return (
        isinstance(first, dict)
        and "eventDateTime" in first
        and ("eventClassification" in first or "eventType" in first)
    )


FORMAT = Format(
    name="dcsa",
    title="DCSA Track & Trace 2.2 and 3.0",
    records=dcsa_records,
    sniff=_sniff,
    event_type_aliases=EVENT_TYPE_ALIASES,
    source_fields={
        "shipment_id": "transportDocumentReference, carrierBookingReference or equipmentReference",
        "event_id": "eventID",
        "event_timestamp": "eventDateTime",
        "event_type": "transportEventTypeCode or equipmentEventTypeCode",
        "location_id": "UNLocationCode",
        "updated_at": "eventUpdatedDateTime",
        "retracted": "isRetracted",
    },
)
