"""``verify``: the drift audit. A full recompute, compared with the live view.

Every shipment of the active window (or, with ``every_shipment``, every shipment
in the view) is recomputed from its events' current revisions up to the checkpoint,
and every contract column of every row (and every summary column) must match
exactly. Shipments that belong in the view but are missing from it count as drift
too. The active window is what the base run recomputes: shipments whose latest
event is within the lookback of the last base date, and those changed since.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipline.store import Backend
from shipline.timeline.base import base_cutoff
from shipline.timeline.runs import TIMELINE_LOCK, read_checkpoint
from shipline.timeline.sql import (
    CONTRACT_COLUMNS,
    CURRENT,
    TIMELINE_COLUMNS,
    columns,
    timeline_rows,
    whole_shipments,
)
from shipline.timeline.views import SUMMARY_COLUMNS, summary_rows

_NOT_HELD = "NOT EXISTS (SELECT 1 FROM shipment_holds AS h WHERE h.shipment_id = s.shipment_id)"

_EXPECTED = f"""
CREATE OR REPLACE TEMP TABLE expected_timeline AS
SELECT {columns(TIMELINE_COLUMNS, "r.")}, l.location_name, l.region
FROM ({timeline_rows(whole_shipments("in_view"))}) AS r
LEFT JOIN locations AS l ON l.location_id = r.location_id
"""

_KEY = ("shipment_id", "event_id")

# Each side's rows that have no equal row of the same key on the other side: a join
# on the key, comparing every other contract column. EXCEPT ALL gives the same rows
# when each key is on each side at most once (checked first: see _REPEATED_KEYS),
# and cost fifteen times as much at 1M rows, hashing every column of both sides.
_DRIFT_BY_KEY = "CREATE OR REPLACE TEMP TABLE timeline_drift AS " + " UNION ALL ".join(
    f"(SELECT '{problem}' AS problem, {columns(CONTRACT_COLUMNS, 'm.')} FROM {mine} AS m"
    f" LEFT JOIN {theirs} AS o"
    f" ON {' AND '.join(f'o.{key} = m.{key}' for key in _KEY)}"
    " WHERE o.event_id IS NULL OR "
    + " OR ".join(f"m.{c} IS DISTINCT FROM o.{c}" for c in CONTRACT_COLUMNS if c not in _KEY)
    + ")"
    for problem, mine, theirs in (
        ("missing or wrong in view", "expected_timeline", "actual_timeline"),
        ("unexpected in view", "actual_timeline", "expected_timeline"),
    )
)

_CONTRACT = columns(CONTRACT_COLUMNS)
_DRIFT_AS_SETS = (
    "CREATE OR REPLACE TEMP TABLE timeline_drift AS"
    f" (SELECT 'missing or wrong in view' AS problem, {_CONTRACT} FROM expected_timeline"
    f"  EXCEPT ALL SELECT 'missing or wrong in view', {_CONTRACT} FROM actual_timeline)"
    " UNION ALL"
    f" (SELECT 'unexpected in view', {_CONTRACT} FROM actual_timeline"
    f"  EXCEPT ALL SELECT 'unexpected in view', {_CONTRACT} FROM expected_timeline)"
)
"""The same rows as multisets, exact however often a key repeats (a broken view)."""

_REPEATED_KEYS = " + ".join(
    f"(SELECT count(*) FROM (SELECT shipment_id, event_id FROM {side}"
    " GROUP BY shipment_id, event_id HAVING count(*) > 1) AS repeated)"
    for side in ("expected_timeline", "actual_timeline")
)

# A summary is one row per shipment on each side (both are grouped by it), so the
# join on shipment_id is exact without a check.
_SUMMARY_DRIFT = "SELECT " + " + ".join(
    f"(SELECT count(*) FROM {mine} AS m LEFT JOIN {theirs} AS o"
    " ON o.shipment_id = m.shipment_id WHERE o.shipment_id IS NULL OR "
    + " OR ".join(f"m.{c} IS DISTINCT FROM o.{c}" for c in SUMMARY_COLUMNS if c != "shipment_id")
    + ")"
    for mine, theirs in (
        ("expected_summary", "actual_summary"),
        ("actual_summary", "expected_summary"),
    )
)

_SCRATCH = ("in_view", "expected_timeline", "actual_timeline", "expected_summary", "actual_summary")


@dataclass(frozen=True)
class VerifyResult:
    """How far the view is from a full recompute (``drift`` must be zero), and how far
    it is behind the store (``stuck`` must be false)."""

    shipments_checked: int
    rows_checked: int
    differing_rows: int
    differing_summaries: int
    missing_shipments: int
    duration_ms: float
    examples: list[dict[str, Any]] = field(default_factory=list)
    pending_events: int = 0
    """Accepted events past the checkpoint: stored, not yet in the view."""
    oldest_pending_seconds: float = 0.0
    """How long the oldest of them has waited."""
    held_shipments: int = 0
    """Shipments left out of the runs because their data made one fail; not drift."""
    max_pending_seconds: float = float("inf")

    @property
    def drift(self) -> int:
        """Rows, summaries and shipments that differ from the full recompute."""
        return self.differing_rows + self.differing_summaries + self.missing_shipments

    @property
    def stuck(self) -> bool:
        """Whether the view has stopped following the store: a held shipment, or an
        event waiting longer than a run ever should."""
        return self.held_shipments > 0 or self.oldest_pending_seconds > self.max_pending_seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``drift`` and ``stuck``."""
        data = {key: value for key, value in self.__dict__.items() if key != "max_pending_seconds"}
        return {**data, "drift": self.drift, "stuck": self.stuck}


def verify(
    backend: Backend,
    *,
    lookback_days: int,
    examples: int = 5,
    max_pending_seconds: float = float("inf"),
    every_shipment: bool = False,
) -> VerifyResult:
    """Compare the real-time view and the summary with a full recompute.

    ``lookback_days`` is the base run's, to tell which shipments belong in the view.
    Held shipments are reported, not compared: their rows are known to be stale.
    """
    started = time.perf_counter()
    summary = columns(SUMMARY_COLUMNS)
    with backend.transaction():
        # Runs wait while verify reads, so both sides see the same checkpoint.
        backend.lock(TIMELINE_LOCK)
        checkpoint = read_checkpoint(backend)
        seq = checkpoint.last_ingest_seq
        cutoff = (
            None
            if every_shipment or checkpoint.base_date is None
            else base_cutoff(checkpoint.base_date, lookback_days)
        )
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE in_view AS"
            " SELECT shipment_id FROM shipment_state AS s WHERE in_view"
            f" AND {_NOT_HELD} AND (CAST(? AS TIMESTAMPTZ) IS NULL OR s.event_timestamp >= ?"
            " OR s.shipment_id IN (SELECT shipment_id FROM shipment_timeline_incremental))",
            [cutoff, cutoff],
        )
        backend.execute(_EXPECTED, [seq, seq])
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE actual_timeline AS"
            f" SELECT * FROM shipment_timeline_realtime AS s WHERE {_NOT_HELD}"
            " AND (CAST(? AS TIMESTAMPTZ) IS NULL"
            " OR s.shipment_id IN (SELECT shipment_id FROM in_view))",
            [cutoff],
        )
        repeated = int(backend.scalar(f"SELECT {_REPEATED_KEYS}"))
        backend.execute(_DRIFT_AS_SETS if repeated else _DRIFT_BY_KEY)
        differing_rows = int(backend.scalar("SELECT count(*) FROM timeline_drift"))
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE expected_summary AS"
            f" SELECT {summary} FROM ({summary_rows('expected_timeline')}) AS expected"
        )
        backend.execute(
            "CREATE OR REPLACE TEMP TABLE actual_summary AS"
            f" SELECT {summary} FROM shipment_summary AS s WHERE {_NOT_HELD}"
            " AND s.shipment_id IN (SELECT shipment_id FROM actual_timeline)"
        )
        differing_summaries = int(backend.scalar(_SUMMARY_DRIFT))
        missing = 0
        if checkpoint.base_date is not None or every_shipment:
            missing = int(
                backend.scalar(
                    # NOT EXISTS, not NOT IN: PostgreSQL turns a NOT IN over a large,
                    # unanalysed temporary table into a nested loop (hours at 10M events).
                    "SELECT count(*) FROM (SELECT e.shipment_id FROM shipment_events AS e"
                    f" WHERE e.ingest_seq <= ? AND {CURRENT} GROUP BY e.shipment_id"
                    " HAVING CAST(? AS TIMESTAMPTZ) IS NULL OR max(e.event_timestamp) >= ?)"
                    " AS s WHERE NOT EXISTS (SELECT 1 FROM in_view AS v"
                    f" WHERE v.shipment_id = s.shipment_id) AND {_NOT_HELD}",
                    [seq, seq, cutoff, cutoff],
                )
            )
        found = backend.fetch_dicts(
            "SELECT * FROM timeline_drift ORDER BY shipment_id, event_sequence LIMIT ?",
            [examples],
        )
        shipments = int(backend.scalar("SELECT count(*) FROM in_view"))
        rows = int(backend.scalar("SELECT count(*) FROM expected_timeline"))
        held = int(backend.scalar("SELECT count(*) FROM shipment_holds"))
        pending, oldest = backend.fetchone(
            "SELECT count(*), min(ingested_at) FROM shipment_events WHERE ingest_seq > ?",
            [checkpoint.last_ingest_seq],
        ) or (0, None)
        for table in (*_SCRATCH, "timeline_drift"):
            backend.execute(f"DROP TABLE {table}")
    return VerifyResult(
        shipments_checked=shipments,
        rows_checked=rows,
        differing_rows=differing_rows,
        differing_summaries=differing_summaries,
        missing_shipments=missing,
        duration_ms=(time.perf_counter() - started) * 1000,
        examples=found,
        pending_events=int(pending),
        oldest_pending_seconds=(
            0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        ),
        held_shipments=held,
        max_pending_seconds=max_pending_seconds,
    )
