"""FedEx Track API answers (``output.completeTrackResults[].trackResults[]``).

Each track result is a tracker: its ``trackingNumberInfo.trackingNumber`` is the
shipment key (the number asked for and FedEx's unique id become references, with
the shipper's package identifiers), and each of ``scanEvents`` a checkpoint coded
by its ``eventType`` (``fedex:PU``). ``date`` carries the scan place's offset. The
delivery estimate is the ``ESTIMATED_DELIVERY`` of ``dateAndTimes``, else the end
of ``estimatedDeliveryTimeWindow``. A result with an error and no scans (a number
FedEx does not know) is skipped and counted.
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

CODES = Codes.load("fedex", "fedex_codes.json")


def fedex_records(document: Any) -> Imported:
    """The records of a Track API answer (or an array of them)."""
    imported = Imported()
    for found in objects(document, _results):
        if not isinstance(found, dict):
            imported.records.append(found)
        elif not listed(found.get("scanEvents")) and isinstance(found.get("error"), dict):
            code = found["error"].get("code") or "error"
            imported.skipped[f"fedex track result with error {code} (no scans)"] += 1
        else:
            tracker_records(_tracker(found), CODES, imported)
    return imported


def _results(value: Any) -> list[Any]:
    complete = at(value, "output", "completeTrackResults")
    if not isinstance(complete, list):
        return [value]
    results: list[Any] = []
    for asked in complete:
        for result in listed(at(asked, "trackResults")):
            if isinstance(result, dict):
                result = {"_asked": at(asked, "trackingNumber"), **result}
            results.append(result)
    return results


def _tracker(result: dict[str, Any]) -> Tracker:
    number = at(result, "trackingNumberInfo", "trackingNumber") or result.get("_asked")
    identifiers = listed(at(result, "additionalTrackingInfo", "packageIdentifiers"))
    estimated = [
        entry.get("dateTime")
        for entry in listed(result.get("dateAndTimes"))
        if isinstance(entry, dict) and entry.get("type") == "ESTIMATED_DELIVERY"
    ]
    return Tracker(
        tracking_number=number,
        carrier="fedex",
        checkpoints=[_checkpoint(scan) for scan in listed(result.get("scanEvents"))],
        references=[
            ("tracking_number", result.get("_asked")),
            ("fedex_unique_id", at(result, "trackingNumberInfo", "trackingNumberUniqueId")),
            *[
                (str(at(entry, "type") or "package").lower(), at(entry, "value"))
                for entry in identifiers
            ],
        ],
        estimates=[
            *[
                Estimate(value, "carrier", where="dateAndTimes ESTIMATED_DELIVERY")
                for value in estimated
            ],
            Estimate(
                at(result, "estimatedDeliveryTimeWindow", "window", "ends"),
                "window_end",
                where="estimatedDeliveryTimeWindow.window.ends",
            ),
        ],
    )


def _checkpoint(scan: Any) -> Checkpoint:
    scan = scan if isinstance(scan, dict) else {}
    place = scan.get("scanLocation") or {}
    return Checkpoint(
        at=scan.get("date"),
        code=scan.get("eventType"),
        message=scan.get("eventDescription"),
        place=Place(
            at(place, "countryCode"),
            at(place, "stateOrProvinceCode"),
            at(place, "city"),
            at(place, "postalCode"),
        ),
        details={
            "derived_status": scan.get("derivedStatusCode"),
            "exception_code": scan.get("exceptionCode"),
            "exception": scan.get("exceptionDescription"),
            "facility": scan.get("locationId"),
        },
    )


def _sniff(_data: bytes, document: Any) -> bool:
    """A Track API answer: ``output.completeTrackResults``."""
    first = document[0] if isinstance(document, list) and document else document
    return isinstance(at(first, "output", "completeTrackResults"), list)


FORMAT = Format(
    name="fedex",
    title="FedEx Track API answers",
    records=fedex_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "trackResults[].trackingNumberInfo.trackingNumber",
        "event_id": "a hash of the tracking number and the scan's date, eventType, place and"
        " eventDescription",
        "event_timestamp": "scanEvents[].date",
        "event_type": "scanEvents[].eventType",
        "location_id": "scanEvents[].scanLocation (countryCode/stateOrProvinceCode/city/"
        "postalCode)",
        "estimates": "dateAndTimes ESTIMATED_DELIVERY, estimatedDeliveryTimeWindow.window.ends",
        "references": "completeTrackResults[].trackingNumber, trackingNumberUniqueId,"
        " packageIdentifiers",
    },
)
