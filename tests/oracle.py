"""An independent, row-by-row Python reading of the timeline contract (DESIGN section 3).

Tests compare the engine's SQL with this, so a mistake in the shared SQL template
cannot hide behind ``verify`` (which uses the same template).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shipline.events.vocabulary import DEFAULT_STATUS

_MICRO = Decimal("0.000001")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    """A sent record as the contract stores it: UTC time, default status, derived id."""
    at = datetime.fromisoformat(record["event_timestamp"]).astimezone(UTC)
    event_id = record.get("event_id")
    if event_id is None:
        us = (at - _EPOCH) // timedelta(microseconds=1)
        key = f"{record['shipment_id']}\x1f{us}\x1f{record['event_type']}"
        event_id = hashlib.md5(key.encode()).hexdigest()
    return {
        "event_id": event_id,
        "shipment_id": record["shipment_id"],
        "event_timestamp": at,
        "event_type": record["event_type"],
        "status": record.get("status") or DEFAULT_STATUS[record["event_type"]],
        "location_id": record.get("location_id"),
        "carrier": record.get("carrier"),
        "revision": record.get("revision"),
        "retracted": bool(record.get("retracted")),
    }


def accepted_records(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the store keeps of records sent one by one in this order (DESIGN 2, 2a):
    the same content again is a duplicate; one retraction per event id; an event
    when its id is new or its revision beats every earlier one (a missing revision
    is the lowest); anything else is a conflict."""
    kept: dict[str, list[dict[str, Any]]] = defaultdict(list)
    accepted = []
    for record in map(normalised, sent):
        earlier = kept[record["event_id"]]
        events = [r for r in earlier if not r["retracted"]]
        if record in earlier:
            continue
        if record["retracted"]:
            take = not any(r["retracted"] for r in earlier)
        else:
            take = not events or _rank(record) > max(map(_rank, events))
        if take:
            earlier.append(record)
            accepted.append(record)
    return accepted


def current_revisions(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event id's current revision among stored records: the newest (by revision,
    then arrival) unless the id was retracted."""
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in stored:
        by_id[record["event_id"]].append(record)
    current = []
    for records in by_id.values():
        if any(r["retracted"] for r in records):
            continue
        current.append(max(records, key=lambda r: (_rank(r), r["ingest_seq"])))
    return current


def _rank(record: dict[str, Any]) -> int:
    return -1 if record["revision"] is None else int(record["revision"])


def exact_hours(delta: timedelta) -> Decimal:
    """Hours to 6 places, rounded half-up, from integer microseconds."""
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (Decimal((us + 1800) // 3600) * _MICRO).quantize(_MICRO)


def expected_timeline(
    events: list[dict[str, Any]], locations: dict[str, tuple[str, str]] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Timeline rows keyed by (shipment_id, event_id), from accepted events."""
    locations = locations or {}
    by_shipment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_shipment[event["shipment_id"]].append(event)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for shipment_id, shipment_events in by_shipment.items():
        ordered = sorted(shipment_events, key=lambda e: (e["event_timestamp"], e["event_id"]))
        first: datetime = ordered[0]["event_timestamp"]
        location_count = status_count = 0
        for index, event in enumerate(ordered):
            prev = ordered[index - 1] if index else None
            nxt = ordered[index + 1] if index + 1 < len(ordered) else None
            location_changed = prev is not None and event["location_id"] != prev["location_id"]
            status_changed = prev is not None and event["status"] != prev["status"]
            location_count += location_changed
            status_count += status_changed
            name, region = locations.get(event["location_id"], (None, None))
            rows[(shipment_id, event["event_id"])] = {
                "shipment_id": shipment_id,
                "event_id": event["event_id"],
                "event_timestamp": event["event_timestamp"],
                "event_type": event["event_type"],
                "status": event["status"],
                "location_id": event["location_id"],
                "carrier": event["carrier"],
                "event_sequence": index + 1,
                "location_name": name,
                "region": region,
                "prev_event_timestamp": prev["event_timestamp"] if prev else None,
                "time_since_prev_event": (
                    event["event_timestamp"] - prev["event_timestamp"] if prev else None
                ),
                "next_event_timestamp": nxt["event_timestamp"] if nxt else None,
                "status_duration": nxt["event_timestamp"] - event["event_timestamp"]
                if nxt
                else None,
                "cumulative_transit_hours": exact_hours(event["event_timestamp"] - first),
                "prev_location_id": prev["location_id"] if prev else None,
                "location_changed": location_changed,
                "location_transition_count": location_count,
                "prev_status": prev["status"] if prev else None,
                "status_changed": status_changed,
                "status_transition_count": status_count,
            }
    return rows


def expected_summary(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A few summary metrics per shipment, from expected timeline rows."""
    by_shipment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values():
        by_shipment[row["shipment_id"]].append(row)
    summary = {}
    for shipment_id, shipment_rows in by_shipment.items():
        ordered = sorted(shipment_rows, key=lambda r: r["event_sequence"])
        last = ordered[-1]
        delivered = [r["event_timestamp"] for r in ordered if r["event_type"] == "delivered"]
        summary[shipment_id] = {
            "event_count": len(ordered),
            "first_event_timestamp": ordered[0]["event_timestamp"],
            "last_event_timestamp": last["event_timestamp"],
            "current_status": last["status"],
            "current_location_id": last["location_id"],
            "delivered_at": min(delivered) if delivered else None,
            "total_transit_hours": last["cumulative_transit_hours"],
            "exception_count": sum(r["status"] == "exception" for r in ordered),
            "locations_visited": len({r["location_id"] for r in ordered} - {None}),
        }
    return summary


def expected_facts(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The KPI facts of each shipment (``timeline.facts``), from expected timeline rows."""
    by_shipment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values():
        by_shipment[row["shipment_id"]].append(row)

    def first(shipment_rows: list[dict[str, Any]], event_type: str, field: str) -> Any:
        found = [r[field] for r in shipment_rows if r["event_type"] == event_type]
        return min(found) if found else None

    return {
        shipment_id: {
            "picked_up_at": first(shipment_rows, "picked_up", "event_timestamp"),
            "delivered_at": first(shipment_rows, "delivered", "event_timestamp"),
            "delivered_sequence": first(shipment_rows, "delivered", "event_sequence"),
            "attempted_sequence": first(shipment_rows, "delivery_attempted", "event_sequence"),
            "exception_count": sum(r["status"] == "exception" for r in shipment_rows),
        }
        for shipment_id, shipment_rows in by_shipment.items()
    }


def expected_dwell(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Microseconds each shipment spent at each location: every followed row's time to
    its successor, at its location."""
    dwell: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows.values():
        if row["location_id"] is not None and row["next_event_timestamp"] is not None:
            spent = row["next_event_timestamp"] - row["event_timestamp"]
            dwell[(row["shipment_id"], row["location_id"])] += spent // timedelta(microseconds=1)
    return dict(dwell)
