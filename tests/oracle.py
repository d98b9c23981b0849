"""An independent, row-by-row Python reading of the timeline contract (DESIGN section 3).

Tests compare the engine's SQL with this, so a mistake in the shared SQL template
cannot hide behind ``verify`` (which uses the same template).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

_MICRO = Decimal("0.000001")


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
