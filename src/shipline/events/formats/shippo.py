"""Shippo track statuses, bare (``GET /tracks/...``) or in a ``track_updated``
webhook (``{"event": "track_updated", "data": track}``).

The tracking number is the shipment key and ``carrier`` the carrier; the label's
``transaction`` becomes a reference. Each of ``tracking_history`` is a checkpoint,
coded by its ``substatus.code`` when the code table maps it, else its ``status``
(``shippo:TRANSIT``); ``tracking_status`` repeats the newest of them and is read
only when the history is empty. Shippo gives every history entry a new
``object_id`` in every answer, so it is not the event's id. ``eta`` is the
delivery estimate. Shippo does not sign its webhooks: protect the route another
way (a secret in its URL, an allow-list).
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

CODES = Codes.load("shippo", "shippo_codes.json")


def shippo_records(document: Any) -> Imported:
    """The records of a track status, a ``track_updated`` webhook or an array of them."""
    imported = Imported()
    for found in objects(document, _tracks):
        if isinstance(found, str):
            imported.skipped[f"shippo {found} webhook (not a track update)"] += 1
        elif isinstance(found, dict):
            tracker_records(_tracker(found), CODES, imported)
        else:
            imported.records.append(found)
    return imported


def _tracks(value: Any) -> list[Any]:
    """The tracks of one value; a webhook about something else is its event name."""
    if isinstance(value, dict) and "event" in value and "data" in value:
        if value["event"] != "track_updated":
            return [str(value["event"])]
        return [value["data"]]
    return [value]


def _tracker(track: dict[str, Any]) -> Tracker:
    history = listed(track.get("tracking_history"))
    if not history and isinstance(track.get("tracking_status"), dict):
        history = [track["tracking_status"]]
    return Tracker(
        tracking_number=track.get("tracking_number"),
        carrier=track.get("carrier"),
        checkpoints=[_checkpoint(entry) for entry in history],
        references=[("shippo_transaction", track.get("transaction"))],
        estimates=[Estimate(track.get("eta"), "carrier", where="eta")],
    )


def _checkpoint(entry: Any) -> Checkpoint:
    entry = entry if isinstance(entry, dict) else {}
    status, substatus = entry.get("status"), at(entry, "substatus", "code")
    place = entry.get("location") or {}
    return Checkpoint(
        at=entry.get("status_date"),
        code=CODES.finer(substatus, status),
        message=entry.get("status_details"),
        place=Place(at(place, "country"), at(place, "state"), at(place, "city"), at(place, "zip")),
        details={"status": status, "substatus": substatus},
    )


def _sniff(_data: bytes, document: Any) -> bool:
    """A track status (``tracking_history`` or ``tracking_status``), bare or in a
    webhook."""
    found = objects(document, _tracks)[:1] if document is not None else []
    first = found[0] if found else None
    return isinstance(first, dict) and (
        isinstance(first.get("tracking_history"), list)
        or isinstance(first.get("tracking_status"), dict)
    )


FORMAT = Format(
    name="shippo",
    title="Shippo track statuses and track_updated webhooks",
    records=shippo_records,
    sniff=_sniff,
    event_type_aliases=CODES.aliases(),
    source_fields={
        "shipment_id": "tracking_number",
        "event_id": "a hash of tracking_number and the entry's status_date, status, location"
        " and status_details",
        "event_timestamp": "tracking_history[].status_date",
        "event_type": "tracking_history[].substatus.code, else status",
        "location_id": "tracking_history[].location (country/state/city/zip)",
        "carrier": "carrier",
        "estimates": "eta",
        "references": "transaction",
    },
)
