""" "How it works": what one late event does to a shipment's timeline, row by row.

The dashboard simulates: on a copy of one shipment's stored events (a DuckDB
database in memory, ``Pipeline.sandbox``), it ingests an event between two of them
through the real validation and store code, runs the real incremental run, and
compares the shipment's rows before and after; the user's store is not written.
Each row gets a verdict (new, rewritten with the fields that changed, rewritten
unchanged, or kept) and a reason in words, next to the run's cost against a full
recompute of the user's store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shipline.errors import ValidationError

COMPARED = (
    "event_sequence",
    "prev_event_timestamp",
    "time_since_prev_event",
    "next_event_timestamp",
    "status_duration",
    "cumulative_transit_hours",
    "prev_location_id",
    "location_changed",
    "location_transition_count",
    "prev_status",
    "status_changed",
)
"""The derived columns a late event can change in other rows."""

UNCHANGED_REASONS = {
    "replay": "replayed: the whole shipment recomputed, values identical (replay is safe)",
    "rebuild": "rebuilt from raw events, values identical",
}
"""Why a recovery run rewrote a row without changing it."""

LATE_EVENT_TYPES = ("in_transit", "arrived_at_facility", "departed_facility", "exception")


@dataclass(frozen=True)
class LateEvent:
    """The event to inject and where it lands."""

    record: dict[str, Any]
    event_id: str
    position: int
    """The 1-based sequence the event will take; later rows move down by one."""


def plan_late_event(
    rows: list[dict[str, Any]],
    position: int,
    event_type: str = "in_transit",
    location_id: str | None = None,
) -> LateEvent:
    """A late event that will take ``position`` in a shipment of ``rows`` (in order).

    It is timestamped halfway between the events at ``position - 1`` and
    ``position`` (an hour before the first when ``position`` is 1), so it arrives
    after events that come later in time: a late event.
    """
    if not rows:
        raise ValidationError("the shipment has no timeline rows")
    if not 1 <= position <= len(rows):
        raise ValidationError(
            f"position {position}: choose 1 to {len(rows)} (before an existing event)"
        )
    if event_type not in LATE_EVENT_TYPES:
        raise ValidationError(
            f"event_type {event_type!r}: use one of {', '.join(LATE_EVENT_TYPES)}"
        )
    after: datetime = rows[position - 1]["event_timestamp"]
    if position == 1:
        stamp = after - timedelta(hours=1)
    else:
        before: datetime = rows[position - 2]["event_timestamp"]
        stamp = before + (after - before) / 2
    neighbour = rows[max(position - 2, 0)]
    event_id = f"simulated-late-{uuid.uuid4().hex[:12]}"
    record = {
        "event_id": event_id,
        "shipment_id": rows[0]["shipment_id"],
        "event_timestamp": stamp.isoformat(),
        "event_type": event_type,
        "location_id": location_id or neighbour.get("location_id"),
        "carrier": neighbour.get("carrier"),
        "event_data": {"simulated_by": "dashboard", "explanation": "late event"},
    }
    return LateEvent(record, event_id, position)


def compare_rows(
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    new_event_id: str | None = None,
    unchanged_reason: str = "recomputed (from the predecessor onward), values unchanged",
) -> list[dict[str, Any]]:
    """Each row after a run with its verdict, the fields that changed and why.

    A row was written by the run when its processing metadata changed (its
    ``processed_timestamp`` or ``incremental_batch_id``).
    """
    previous = {row["event_id"]: row for row in before}
    explained = []
    for row in after:
        old = previous.get(row["event_id"])
        rewritten = old is not None and any(
            old.get(c) != row.get(c) for c in ("processed_timestamp", "incremental_batch_id")
        )
        changes = [] if old is None else [c for c in COMPARED if old.get(c) != row.get(c)]
        if row["event_id"] == new_event_id or old is None:
            verdict, reason = "new", "the late event: a new row in its place in time"
        elif rewritten and changes:
            verdict, reason = "rewritten", _reason(changes, old, row)
        elif rewritten:
            verdict, reason = "recomputed", unchanged_reason
        else:
            verdict = "kept"
            reason = "before the predecessor: nothing can change, the row is not touched"
        explained.append(
            {
                "event_id": row["event_id"],
                "event_sequence": row["event_sequence"],
                "previous_sequence": None if old is None else old["event_sequence"],
                "verdict": verdict,
                "reason": reason,
                "changes": {
                    column: {"before": old.get(column), "after": row.get(column)}
                    for column in changes
                }
                if old is not None
                else {},
            }
        )
    return explained


def _reason(changes: list[str], old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = []
    if "next_event_timestamp" in changes or "status_duration" in changes:
        parts.append("the predecessor: its next event is now the late one, so its duration shrank")
    if "event_sequence" in changes:
        parts.append(
            f"renumbered {old['event_sequence']} → {new['event_sequence']} (the suffix moves down)"
        )
    if "prev_event_timestamp" in changes or "time_since_prev_event" in changes:
        parts.append("its previous event is now the late one")
    if any(c in changes for c in ("location_transition_count", "location_changed")):
        parts.append("location transitions counted again")
    if any(c in changes for c in ("status_changed", "prev_status")):
        parts.append("status change recomputed")
    if "cumulative_transit_hours" in changes:
        parts.append("hours since the first event changed")
    return "; ".join(parts) or "derived columns changed"


def cost(run: dict[str, Any], store_rows: int) -> dict[str, Any]:
    """The run's cost against a full recompute, for the explanation's bar.

    The run is simulated on one shipment; ``store_rows`` is what a full recompute of
    the user's store writes, against which the same rows would be written there.
    """
    full = int(run["full_recompute_rows"] or 0)
    written = int(run["rows_written"] or 0)
    return {
        "rows_written": written,
        "full_recompute_rows": full,
        "saved_ratio": None if full == 0 else 1 - written / full,
        "store_full_recompute_rows": store_rows,
        "store_saved_ratio": None if store_rows == 0 else 1 - written / store_rows,
    }
