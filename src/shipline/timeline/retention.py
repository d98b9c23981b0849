"""Retention: a shipment whose latest event is older than the retention period is
removed whole (its events, rows, state, estimates and references), as seed 000's
two-year policy asks. Until then it stays in the view, frozen (``timeline.base``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shipline.store import Backend
from shipline.timeline.runs import TIMELINE_LOCK, read_checkpoint, write_checkpoint

SHIPMENT_TABLES = (
    "shipment_events",
    "superseded_events",
    "shipment_timeline_base",
    "shipment_timeline_incremental",
    "shipment_state",
    "shipment_dwell",
    "shipment_holds",
    "shipment_estimates",
    "shipment_references",
)
"""Every table that holds rows of a shipment, by ``shipment_id``."""

_EXPIRED = """
CREATE OR REPLACE TEMP TABLE expired_shipments AS
SELECT shipment_id, count(*) AS events FROM shipment_events
GROUP BY shipment_id HAVING max(event_timestamp) < ?
"""


@dataclass(frozen=True)
class RetentionResult:
    """What a retention pass removed (or, on a dry run, would remove)."""

    cutoff: datetime
    shipments: int
    events: int
    view_rows: int
    applied: bool


def apply_retention(
    backend: Backend, *, now: datetime, retention_days: int, dry_run: bool = False
) -> RetentionResult:
    """Remove every shipment whose latest event is before ``now - retention_days``.

    Runs under the timeline lock in one transaction, so a run never sees half a
    shipment, and the checkpoint's row count stays that of the view.
    """
    cutoff = now - timedelta(days=retention_days)
    with backend.transaction():
        backend.lock(TIMELINE_LOCK)
        backend.execute(_EXPIRED, [cutoff])
        shipments, events = backend.fetchone(
            "SELECT count(*), coalesce(sum(events), 0) FROM expired_shipments"
        ) or (0, 0)
        view_rows = int(
            backend.scalar(
                "SELECT count(*) FROM shipment_timeline_realtime"
                " WHERE shipment_id IN (SELECT shipment_id FROM expired_shipments)"
            )
        )
        if not dry_run:
            # The audit log is kept as long as the shipments it speaks of.
            backend.execute("DELETE FROM audit_log WHERE occurred_at < ?", [cutoff])
        if not dry_run and shipments:
            for table in SHIPMENT_TABLES:
                backend.replace_rows_of(
                    table, "shipment_id", "SELECT shipment_id FROM expired_shipments", None
                )
            checkpoint = read_checkpoint(backend)
            write_checkpoint(
                backend, replace(checkpoint, view_rows=checkpoint.view_rows - view_rows)
            )
        backend.execute("DROP TABLE expired_shipments")
    return RetentionResult(cutoff, int(shipments), int(events), view_rows, not dry_run)
