"""Named data-quality checks on the timeline, each a count and a few examples.

The checks read the real-time view (what users query) and, for unknown locations
and clock skew, the raw events. They run on demand (``shipline quality``), not on
every scrape: the sequence checks scan the whole view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shipline.errors import BackendError
from shipline.monitor.metrics import overdue_shipments
from shipline.settings import Settings
from shipline.store import Backend
from shipline.timeline.stuck import stuck_query

# The conflict reason ingest writes ("... already stored as ... with different
# content; the first write wins"). Matching text is the only way to tell conflicts
# apart today: dead_letters has no reason code column.
CONFLICT_REASON = "%with different content%"

_DELIVERED_BEFORE_PICKUP = """
WITH milestones AS (
    SELECT shipment_id,
        min(event_timestamp) FILTER (WHERE event_type = 'picked_up') AS picked_up_at,
        min(event_timestamp) FILTER (WHERE event_type = 'delivered') AS delivered_at
    FROM shipment_timeline_realtime
    GROUP BY shipment_id
)
SELECT shipment_id, picked_up_at, delivered_at FROM milestones
WHERE delivered_at < picked_up_at
"""

_EVENTS_AFTER_DELIVERED = """
WITH delivered AS (
    SELECT shipment_id, min(event_sequence) AS delivered_sequence
    FROM shipment_timeline_realtime WHERE event_type = 'delivered'
    GROUP BY shipment_id
)
SELECT t.shipment_id, t.event_sequence, t.event_type, t.event_timestamp
FROM shipment_timeline_realtime AS t
JOIN delivered AS d ON d.shipment_id = t.shipment_id
WHERE t.event_sequence > d.delivered_sequence
"""

_UNKNOWN_LOCATIONS = """
SELECT e.location_id, count(*) AS events, min(e.shipment_id) AS example_shipment
FROM shipment_events AS e
WHERE e.location_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM locations AS l WHERE l.location_id = e.location_id)
GROUP BY e.location_id
"""

_FUTURE_EVENTS = """
SELECT shipment_id, event_id, event_timestamp, ingested_at, source
FROM shipment_events WHERE event_timestamp > ?
"""


@dataclass(frozen=True)
class QualityCheck:
    """One check's finding: how many, a few examples, and a rate where one applies."""

    name: str
    description: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    rate: float | None = None

    @property
    def passed(self) -> bool:
        """True when the check found nothing."""
        return self.count == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready finding."""
        return {**self.__dict__, "passed": self.passed}


def run_quality_checks(
    backend: Backend,
    settings: Settings | None = None,
    now: datetime | None = None,
    examples: int = 5,
) -> list[QualityCheck]:
    """Every check, in a stable order."""
    settings = settings or Settings()
    now = now or datetime.now(UTC)
    overdue_query, overdue_params = overdue_shipments(settings, now)
    return [
        _check(
            backend,
            "silent_shipments",
            "In-view shipments silent longer than the expected dwell for their status"
            " (quality_expected_dwell_hours); the missing_events metric counts these.",
            overdue_query,
            overdue_params,
            examples,
            order="silent_hours DESC",
        ),
        _check(
            backend,
            "stuck_shipments",
            "Open shipments silent beyond the 95th percentile of the gap after their last"
            " event type on their lane (else on every lane, else after any event); see"
            " `shipline stuck` for why each is stuck.",
            *stuck_query(backend, now),
            examples,
            order="gap_us - usual_gap_p95_us DESC, shipment_id",
        ),
        _check(
            backend,
            "delivered_before_picked_up",
            "Shipments whose first delivered event is earlier than their first picked_up.",
            _DELIVERED_BEFORE_PICKUP,
            [],
            examples,
            order="shipment_id",
        ),
        _check(
            backend,
            "events_after_delivered",
            "Events that follow a shipment's first delivered event in timeline order.",
            _EVENTS_AFTER_DELIVERED,
            [],
            examples,
            order="shipment_id, event_sequence",
        ),
        _conflicts(backend, examples),
        _check(
            backend,
            "unknown_locations",
            "location_id values of accepted events that are not in the locations table"
            " (the count is of distinct location ids).",
            _UNKNOWN_LOCATIONS,
            [],
            examples,
            order="events DESC, location_id",
        ),
        _check(
            backend,
            "future_events",
            "Events timestamped more than quality_clock_skew_seconds after now (clock skew).",
            _FUTURE_EVENTS,
            [now + timedelta(seconds=settings.quality_clock_skew_seconds)],
            examples,
            order="event_timestamp DESC",
        ),
    ]


def _check(
    backend: Backend,
    name: str,
    description: str,
    query: str,
    params: list[Any],
    examples: int,
    order: str,
) -> QualityCheck:
    count = int(backend.scalar(f"SELECT count(*) FROM ({query}) AS found", params))
    found = (
        backend.fetch_dicts(
            f"SELECT * FROM ({query}) AS found ORDER BY {order} LIMIT ?", [*params, examples]
        )
        if count
        else []
    )
    return QualityCheck(name, description, count, found)


def _conflicts(backend: Backend, examples: int) -> QualityCheck:
    row = backend.fetchone(
        "SELECT (SELECT count(*) FROM dead_letters WHERE reason LIKE ?),"
        " (SELECT count(*) FROM shipment_events)",
        [CONFLICT_REASON],
    )
    if row is None:
        raise BackendError(
            "the conflicting-duplicates count returned no row; check the database connection"
        )
    conflicts, accepted = int(row[0]), int(row[1])
    found = (
        backend.fetch_dicts(
            "SELECT dead_letter_id, received_at, source, state, reason FROM dead_letters"
            " WHERE reason LIKE ? ORDER BY dead_letter_id DESC LIMIT ?",
            [CONFLICT_REASON, examples],
        )
        if conflicts
        else []
    )
    return QualityCheck(
        "conflicting_duplicates",
        "Records refused because their idempotency key was taken by different content;"
        " rate = conflicts / (accepted events + conflicts).",
        conflicts,
        found,
        rate=conflicts / (accepted + conflicts) if conflicts else 0.0,
    )
