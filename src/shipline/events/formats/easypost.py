"""EasyPost trackers, bare or in a ``tracker.created``/``tracker.updated`` webhook.

The tracking code is the shipment key; the tracker's ``trk_`` id and its ``shp_``
shipment become references. Each ``tracking_details`` entry is a checkpoint, its
code the ``status_detail`` when the code table maps it, else the ``status``
(``easypost:arrived_at_facility``, ``easypost:pre_transit``). ``est_delivery_date``
is the delivery estimate. Webhooks are signed: ``X-Hmac-Signature:
hmac-sha256-hex=<hex>``, HMAC-SHA256 of the raw body keyed with the webhook secret
NFKD-normalised, as EasyPost's client libraries check it.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from typing import Any

from shipline.events.formats.base import Format, Imported
from shipline.events.formats.tracking import (
    Checkpoint,
    Codes,
    Estimate,
    Place,
    Tracker,
    at,
    hmac_matches,
    listed,
    objects,
    tracker_records,
)

CODES = Codes.load("easypost", "easypost_codes.json")
SIGNATURE_HEADER = "x-hmac-signature"


def easypost_records(document: Any) -> Imported:
    """The records of a tracker, a webhook event, a list page or an array of them."""
    imported = Imported()
    for found in objects(document, _trackers):
        if isinstance(found, str):
            imported.skipped[f"easypost {found} event (not a tracker)"] += 1
        elif isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _trackers(value: Any) -> list[Any]:
    """The trackers of one value; an event about something else is its description."""
    if isinstance(value, dict) and value.get("object") == "Event":
        result = value.get("result")
        if isinstance(result, dict) and result.get("object") == "Tracker":
            return [result]
        return [str(value.get("description") or "untitled")]
    if isinstance(value, dict) and isinstance(value.get("trackers"), list):
        return objects(value["trackers"], _trackers)
    return [value]


def _tracker(tracker: dict[str, Any]) -> Tracker:
    return Tracker(
        tracking_number=tracker.get("tracking_code"),
        carrier=tracker.get("carrier"),
        checkpoints=[_checkpoint(detail) for detail in listed(tracker.get("tracking_details"))],
        references=[
            ("easypost_tracker", tracker.get("id")),
            ("easypost_shipment", tracker.get("shipment_id")),
            ("tracking_number", at(tracker, "carrier_detail", "alternate_identifier")),
        ],
        estimates=[
            Estimate(tracker.get("est_delivery_date"), "carrier", where="est_delivery_date")
        ],
    )


def _checkpoint(detail: Any) -> Checkpoint:
    detail = detail if isinstance(detail, dict) else {}
    status, status_detail = detail.get("status"), detail.get("status_detail")
    code = CODES.finer(status_detail, status)
    place = detail.get("tracking_location") or {}
    message = detail.get("message")
    return Checkpoint(
        at=detail.get("datetime"),
        code=code,
        message=message,
        place=Place(at(place, "country"), at(place, "state"), at(place, "city"), at(place, "zip")),
        details={
            "status": status,
            "status_detail": status_detail,
            "carrier_code": detail.get("carrier_code"),
            "source": detail.get("source"),
            "description": None
            if detail.get("description") == message
            else detail.get("description"),
        },
    )


def easypost_signed(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether ``X-Hmac-Signature`` is EasyPost's signature of ``body`` with ``secret``."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    expected = "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac_matches(expected, headers.get(SIGNATURE_HEADER))


def _sniff(_data: bytes, document: Any) -> bool:
    """An EasyPost ``Event`` or ``Tracker`` object (or a page or array of them)."""
    found = objects(document, _first)[:1] if document is not None else []
    return (
        bool(found)
        and isinstance(found[0], dict)
        and found[0].get("object") in ("Event", "Tracker")
    )


def _first(value: Any) -> list[Any]:
    if isinstance(value, dict) and isinstance(value.get("trackers"), list):
        return objects(value["trackers"], _first)
    return [value]


FORMAT = Format(
    name="easypost",
    title="EasyPost trackers and tracker webhooks",
    records=easypost_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "tracking_code",
        "event_id": "a hash of tracking_code and the detail's datetime, status, location and"
        " message",
        "event_timestamp": "tracking_details[].datetime",
        "event_type": "tracking_details[].status_detail, else status",
        "location_id": "tracking_details[].tracking_location (country/state/city/zip)",
        "carrier": "carrier",
        "estimates": "est_delivery_date",
        "references": "id (trk_), shipment_id (shp_), carrier_detail.alternate_identifier",
    },
    signature=easypost_signed,
    signature_header=SIGNATURE_HEADER,
)
