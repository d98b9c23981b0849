"""``verify``: the drift audit. A full recompute, compared with the live view.

Every shipment in the view is recomputed from all its accepted events up to the
checkpoint, and every contract column of every row (and every summary column) must
match exactly. Shipments that the last base date says belong in the view, but are
missing from it, count as drift too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shipline.store import Backend
from shipline.timeline.base import base_cutoff, whole_shipments
from shipline.timeline.runs import TIMELINE_LOCK, read_checkpoint
from shipline.timeline.sql import CONTRACT_COLUMNS, TIMELINE_COLUMNS, columns, timeline_rows
from shipline.timeline.views import SUMMARY_COLUMNS, summary_rows

_EXPECTED = f"""
CREATE OR REPLACE TEMP TABLE expected_timeline AS
SELECT {columns(TIMELINE_COLUMNS, "r.")}, l.location_name, l.region
FROM ({timeline_rows(whole_shipments("in_view"))}) AS r
LEFT JOIN locations AS l ON l.location_id = r.location_id
"""


@dataclass(frozen=True)
class VerifyResult:
    """How far the view is from a full recompute; ``drift`` must be zero."""

    shipments_checked: int
    rows_checked: int
    differing_rows: int
    differing_summaries: int
    missing_shipments: int
    duration_ms: float
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def drift(self) -> int:
        """Rows, summaries and shipments that differ from the full recompute."""
        return self.differing_rows + self.differing_summaries + self.missing_shipments


def verify(backend: Backend, *, lookback_days: int, examples: int = 5) -> VerifyResult:
    """Compare the real-time view and the summary with a full recompute.

    ``lookback_days`` is the base run's, to tell which shipments belong in the view.
    """
    started = time.perf_counter()
    contract = columns(CONTRACT_COLUMNS)
    summary = columns(SUMMARY_COLUMNS)
    with backend.transaction():
        # Runs wait while verify reads, so both sides see the same checkpoint.
        backend.lock(TIMELINE_LOCK)
        checkpoint = read_checkpoint(backend)
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE in_view AS"
            " SELECT shipment_id FROM shipment_state WHERE in_view"
        )
        backend.execute(_EXPECTED, [checkpoint.last_ingest_seq])
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE actual_timeline AS"
            " SELECT * FROM shipment_timeline_realtime"
        )
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE timeline_drift AS"
            f" (SELECT 'missing or wrong in view' AS problem, {contract} FROM expected_timeline"
            f"  EXCEPT ALL SELECT 'missing or wrong in view', {contract} FROM actual_timeline)"
            " UNION ALL"
            f" (SELECT 'unexpected in view', {contract} FROM actual_timeline"
            f"  EXCEPT ALL SELECT 'unexpected in view', {contract} FROM expected_timeline)"
        )
        differing_rows = int(backend.scalar("SELECT count(*) FROM timeline_drift"))
        expected_summary = (
            f"SELECT {summary} FROM ({summary_rows('expected_timeline')}) AS expected"
        )
        actual_summary = f"SELECT {summary} FROM shipment_summary"
        differing_summaries = int(
            backend.scalar(
                f"SELECT count(*) FROM (({expected_summary} EXCEPT ALL {actual_summary})"
                f" UNION ALL ({actual_summary} EXCEPT ALL {expected_summary})) AS drift"
            )
        )
        missing = 0
        if checkpoint.base_date is not None:
            missing = int(
                backend.scalar(
                    # NOT EXISTS, not NOT IN: PostgreSQL turns a NOT IN over a large,
                    # unanalysed temporary table into a nested loop (hours at 10M events).
                    "SELECT count(*) FROM (SELECT shipment_id FROM shipment_events"
                    " WHERE ingest_seq <= ? GROUP BY shipment_id HAVING max(event_timestamp) >= ?)"
                    " AS expected_in_view WHERE NOT EXISTS (SELECT 1 FROM in_view AS v"
                    " WHERE v.shipment_id = expected_in_view.shipment_id)",
                    [checkpoint.last_ingest_seq, base_cutoff(checkpoint.base_date, lookback_days)],
                )
            )
        found = backend.fetch_dicts(
            "SELECT * FROM timeline_drift ORDER BY shipment_id, event_sequence LIMIT ?",
            [examples],
        )
        shipments = int(backend.scalar("SELECT count(*) FROM in_view"))
        rows = int(backend.scalar("SELECT count(*) FROM expected_timeline"))
        for table in ("in_view", "expected_timeline", "actual_timeline", "timeline_drift"):
            backend.execute(f"DROP TABLE {table}")
    return VerifyResult(
        shipments_checked=shipments,
        rows_checked=rows,
        differing_rows=differing_rows,
        differing_summaries=differing_summaries,
        missing_shipments=missing,
        duration_ms=(time.perf_counter() - started) * 1000,
        examples=found,
    )
