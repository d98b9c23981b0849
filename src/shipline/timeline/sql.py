"""The timeline contract (DESIGN section 3) as SQL, written once.

``timeline_rows`` turns a relation of events into timeline rows with window
functions. The relation may carry a *seed* per shipment: the shipment's last row
already computed. A seeded shipment continues from it (sequence, previous time,
location and status, running counts), which is how an in-order incremental run
extends a timeline without reading its history. Unseeded, the same query is the
full recompute used by the base run, late shipments and ``verify``.
"""

from __future__ import annotations

from string import Template

TIMELINE_COLUMNS = (
    "shipment_id",
    "event_id",
    "event_timestamp",
    "event_type",
    "status",
    "location_id",
    "carrier",
    "event_sequence",
    "prev_event_timestamp",
    "time_since_prev_event",
    "next_event_timestamp",
    "status_duration",
    "first_event_timestamp",
    "cumulative_transit_hours",
    "prev_location_id",
    "location_changed",
    "location_transition_count",
    "prev_status",
    "status_changed",
    "status_transition_count",
)
"""The stored columns of a timeline row, before processing metadata."""

EVENT_COLUMNS = TIMELINE_COLUMNS[:7]
"""The event's own columns, the first of a timeline row."""

CONTRACT_COLUMNS = (
    *(c for c in TIMELINE_COLUMNS if c != "first_event_timestamp"),
    "location_name",
    "region",
)
"""The columns the contract defines; ``verify`` compares exactly these."""

STATE_COLUMNS = tuple(
    c for c in TIMELINE_COLUMNS if c not in ("next_event_timestamp", "status_duration")
)
"""A shipment's last row, as kept in ``shipment_state``."""

SEED_COLUMNS = (
    "seed_sequence",
    "seed_event_timestamp",
    "seed_first_event_timestamp",
    "seed_location_id",
    "seed_status",
    "seed_location_transition_count",
    "seed_status_transition_count",
)

NO_SEED = ", ".join(
    f"CAST(NULL AS {kind}) AS {name}"
    for name, kind in zip(
        SEED_COLUMNS,
        ("BIGINT", "TIMESTAMPTZ", "TIMESTAMPTZ", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT"),
        strict=True,
    )
)
"""Seed columns for a relation of whole shipments (a full recompute)."""


def hours_from_microseconds(microseconds: str) -> str:
    """Exact hours in an integer number of microseconds, as DECIMAL(18,6), half-up.

    Integer arithmetic makes every engine agree to the last digit:
    hours * 10^6 = us / 3600, and floor((us + 1800) / 3600) rounds it half-up.
    """
    return (
        f"CAST(CAST(({microseconds} + 1800) // 3600 AS DECIMAL(18, 0))"
        f" * CAST(0.000001 AS DECIMAL(7, 6)) AS DECIMAL(18, 6))"
    )


def hours_between(start: str, end: str) -> str:
    """Exact hours from ``start`` to ``end`` (see ``hours_from_microseconds``)."""
    return hours_from_microseconds(f"(epoch_us({end}) - epoch_us({start}))")


_TIMELINE = Template(
    """
WITH ordered AS (
    SELECT
        e.*,
        row_number() OVER w AS position,
        lag(event_timestamp) OVER w AS lag_event_timestamp,
        lead(event_timestamp) OVER w AS next_event_timestamp,
        first_value(event_timestamp) OVER w AS min_event_timestamp,
        lag(location_id) OVER w AS lag_location_id,
        lag(status) OVER w AS lag_status
    FROM $events AS e
    WINDOW w AS (PARTITION BY shipment_id ORDER BY event_timestamp, event_id)
),
linked AS (
    SELECT
        *,
        coalesce(seed_sequence, 0) + position AS event_sequence,
        CASE WHEN position = 1 THEN seed_event_timestamp ELSE lag_event_timestamp END
            AS prev_event_timestamp,
        coalesce(seed_first_event_timestamp, min_event_timestamp) AS first_event_timestamp,
        CASE WHEN position = 1 THEN seed_location_id ELSE lag_location_id END
            AS prev_location_id,
        CASE WHEN position = 1 THEN seed_status ELSE lag_status END AS prev_status
    FROM ordered
),
flagged AS (
    SELECT
        *,
        event_sequence > 1 AND location_id IS DISTINCT FROM prev_location_id
            AS location_changed,
        event_sequence > 1 AND status IS DISTINCT FROM prev_status AS status_changed
    FROM linked
)
SELECT
    shipment_id,
    event_id,
    event_timestamp,
    event_type,
    status,
    location_id,
    carrier,
    event_sequence,
    prev_event_timestamp,
    event_timestamp - prev_event_timestamp AS time_since_prev_event,
    next_event_timestamp,
    next_event_timestamp - event_timestamp AS status_duration,
    first_event_timestamp,
    $cumulative_hours AS cumulative_transit_hours,
    prev_location_id,
    location_changed,
    coalesce(seed_location_transition_count, 0)
        + sum(CASE WHEN location_changed THEN 1 ELSE 0 END) OVER running
        AS location_transition_count,
    prev_status,
    status_changed,
    coalesce(seed_status_transition_count, 0)
        + sum(CASE WHEN status_changed THEN 1 ELSE 0 END) OVER running
        AS status_transition_count
FROM flagged
WINDOW running AS (
    PARTITION BY shipment_id ORDER BY event_timestamp, event_id
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
)
"""
)


def timeline_rows(events: str) -> str:
    """SELECT of timeline rows for ``events``, a relation with event and seed columns."""
    return _TIMELINE.substitute(
        events=events,
        cumulative_hours=hours_between("first_event_timestamp", "event_timestamp"),
    )


CURRENT = (
    "NOT coalesce(e.retracted, false) AND NOT EXISTS (SELECT 1 FROM superseded_events AS x"
    " WHERE x.ingest_seq = e.ingest_seq AND x.superseded_by <= ?)"
)
"""Whether stored record ``e`` is its event's current revision as of ingest_seq ``?``:
not a retraction, and neither replaced nor retracted by then (DESIGN 2a). The
contract is computed over these records only."""


def whole_shipments(scope: str, events: str = "shipment_events") -> str:
    """Current events (unseeded) as of ingest_seq ``?`` (given twice) of every shipment
    in relation ``scope``, from ``events`` (the stored records, or a copy of theirs)."""
    return (
        f"(SELECT {columns(EVENT_COLUMNS, 'e.')}, {NO_SEED} FROM {events} AS e"
        f" WHERE e.ingest_seq <= ? AND {CURRENT}"
        f" AND e.shipment_id IN (SELECT shipment_id FROM {scope}))"
    )


def columns(names: tuple[str, ...], prefix: str = "") -> str:
    """A column list, optionally qualified by a table alias."""
    return ", ".join(f"{prefix}{name}" for name in names)
