"""The read side: the real-time view, the shipment summary and dwell per location.

Reference data (locations, packages) is joined at read time, so a corrected
reference row never leaves a stale copy behind, and the summary is derived from
the timeline by one query, so it is exact whenever the timeline is.
"""

from __future__ import annotations

import hashlib
from string import Template

from shipline.store import Backend
from shipline.timeline.sql import TIMELINE_COLUMNS, columns, hours_between, hours_from_microseconds

_STORED_COLUMNS = (*TIMELINE_COLUMNS, "processed_timestamp", "process_type")
_STORED = columns(_STORED_COLUMNS)

REALTIME_VIEW = f"""
CREATE OR REPLACE VIEW shipment_timeline_realtime AS
WITH current_rows AS (
    SELECT {_STORED}, incremental_batch_id FROM shipment_timeline_incremental
    UNION ALL
    SELECT {columns(_STORED_COLUMNS, "b.")},
        CAST(NULL AS VARCHAR) AS incremental_batch_id
    FROM shipment_timeline_base AS b
    WHERE NOT EXISTS (
        SELECT 1 FROM shipment_timeline_incremental AS i
        WHERE i.shipment_id = b.shipment_id AND i.event_id = b.event_id
    )
)
SELECT {columns(TIMELINE_COLUMNS, "r.")}, l.location_name, l.region,
    r.processed_timestamp, r.process_type, r.incremental_batch_id
FROM current_rows AS r
LEFT JOIN locations AS l ON l.location_id = r.location_id
"""

ON_TIME = (
    "CASE WHEN s.delivered_at IS NULL OR p.promised_delivery_at IS NULL THEN NULL"
    " ELSE s.delivered_at <= p.promised_delivery_at END"
)
"""Whether shipment ``s`` (with its first ``delivered_at``) was delivered by the time
its package ``p`` promised; NULL without either."""

_SUMMARY = Template(
    """
WITH per_shipment AS (
    SELECT
        t.shipment_id,
        min(t.event_timestamp) AS first_event_timestamp,
        max(t.event_timestamp) AS last_event_timestamp,
        count(*) AS event_count,
        max(CASE WHEN t.next_event_timestamp IS NULL THEN t.status END) AS current_status,
        max(CASE WHEN t.next_event_timestamp IS NULL THEN t.location_id END)
            AS current_location_id,
        min(CASE WHEN t.event_type = 'picked_up' THEN t.event_timestamp END) AS picked_up_at,
        min(CASE WHEN t.event_type = 'delivered' THEN t.event_timestamp END) AS delivered_at,
        max(t.cumulative_transit_hours) AS total_transit_hours,
        count(*) FILTER (WHERE t.status = 'exception') AS exception_count,
        count(DISTINCT t.location_id) AS locations_visited,
        max(t.location_transition_count) AS location_transitions
    FROM $timeline AS t
    GROUP BY t.shipment_id
)
SELECT
    s.*,
    p.promised_delivery_at,
    $on_time AS on_time,
    CASE
        WHEN s.delivered_at IS NULL OR p.promised_delivery_at IS NULL THEN NULL
        WHEN s.delivered_at <= p.promised_delivery_at THEN CAST(0 AS DECIMAL(18, 6))
        ELSE $delay_hours
    END AS delay_hours,
    eta.estimated_at AS estimated_delivery_at
FROM per_shipment AS s
LEFT JOIN packages AS p ON p.shipment_id = s.shipment_id
LEFT JOIN (
    -- the latest delivery estimate received, from any source
    SELECT shipment_id, estimated_at, row_number() OVER (
        PARTITION BY shipment_id ORDER BY received_at DESC, estimated_at DESC
    ) AS newest
    FROM shipment_estimates WHERE kind = 'eta'
) AS eta ON eta.shipment_id = s.shipment_id AND eta.newest = 1
"""
)

SUMMARY_COLUMNS = (
    "shipment_id",
    "first_event_timestamp",
    "last_event_timestamp",
    "event_count",
    "current_status",
    "current_location_id",
    "picked_up_at",
    "delivered_at",
    "total_transit_hours",
    "exception_count",
    "locations_visited",
    "location_transitions",
    "promised_delivery_at",
    "on_time",
    "delay_hours",
)


def summary_rows(timeline: str) -> str:
    """SELECT of ``shipment_summary`` rows computed from a timeline relation."""
    return _SUMMARY.substitute(
        timeline=timeline,
        on_time=ON_TIME,
        delay_hours=hours_between("p.promised_delivery_at", "s.delivered_at"),
    )


DWELL_VIEW = f"""
CREATE OR REPLACE VIEW shipment_location_dwell AS
SELECT
    shipment_id,
    location_id,
    count(*) AS events,
    {hours_from_microseconds("sum(epoch_us(next_event_timestamp) - epoch_us(event_timestamp))")}
        AS dwell_hours
FROM shipment_timeline_realtime
WHERE location_id IS NOT NULL AND next_event_timestamp IS NOT NULL
GROUP BY shipment_id, location_id
"""


SUMMARY_VIEW = "CREATE OR REPLACE VIEW shipment_summary AS " + summary_rows(
    "shipment_timeline_realtime"
)

VIEWS = (
    ("shipment_timeline_realtime", REALTIME_VIEW),
    ("shipment_summary", SUMMARY_VIEW),
    ("shipment_location_dwell", DWELL_VIEW),
)
"""shipline's views, each after the views it reads."""


def ensure_views(backend: Backend) -> None:
    """Create the views, or re-create those whose SQL changed; runs whenever the store opens.

    Re-creating every time would take an exclusive lock on each open and, on the
    server engines (whose replacement is a DROP ... CASCADE), drop whatever a user
    built on top of the views. A digest of each definition says when it is needed.
    """
    wanted = {name: _digest(backend, sql) for name, sql in VIEWS}
    if _stored_digests(backend) == wanted:
        return
    with backend.transaction():
        backend.lock("shipline.migrate")
        stored = _stored_digests(backend)
        # A view is re-created when it, or a view it reads, changed.
        changed = False
        for name, sql in VIEWS:
            changed = changed or stored.get(name) != wanted[name]
            if changed:
                backend.execute(sql)
                backend.execute("DELETE FROM view_definitions WHERE view_name = ?", [name])
                backend.execute(
                    "INSERT INTO view_definitions (view_name, digest) VALUES (?, ?)",
                    [name, wanted[name]],
                )


def _stored_digests(backend: Backend) -> dict[str, str]:
    """The digest of each view in the database (a view dropped by hand has none)."""
    rows = backend.fetchall("SELECT view_name, digest FROM view_definitions")
    present = set(backend.tables())
    return {str(name): str(digest) for name, digest in rows if name in present}


def _digest(backend: Backend, sql: str) -> str:
    """A digest of the view's SQL as this engine receives it: a change in shipline's
    rendering (or in sqlglot) re-creates the view too."""
    rendered = "\n".join(backend.render(sql))
    return hashlib.sha256(f"{backend.DIALECT}\n{rendered}".encode()).hexdigest()
