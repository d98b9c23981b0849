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
from itertools import pairwise
from typing import Any

from shipline.store import Backend
from shipline.timeline.base import base_cutoff
from shipline.timeline.facts import FACT_COLUMNS, dwell_of, dwell_parts, facts_of
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

ROWS_PER_PART = 2_000_000
"""About how many timeline rows ``verify`` recomputes and compares at once: at 10M
events, one part of every row peaked at 9.9 GiB."""

_EXPECTED = f"""
CREATE OR REPLACE TEMP TABLE expected_timeline AS
SELECT {columns(TIMELINE_COLUMNS, "r.")}, l.location_name, l.region
FROM ({timeline_rows(whole_shipments("in_part"))}) AS r
LEFT JOIN locations AS l ON l.location_id = r.location_id
"""

_KEY = ("shipment_id", "event_id")

# The keys whose rows differ, from one full join on the key comparing every other
# contract column; then each side's rows of those keys. EXCEPT ALL gives the same rows
# when each key is on each side at most once (checked first: see _REPEATED_KEYS),
# and cost fifteen times as much at 1M rows, hashing every column of both sides.
_DRIFT_BY_KEY = (
    "CREATE OR REPLACE TEMP TABLE drift_keys AS SELECT"
    + ", ".join(f" coalesce(m.{key}, o.{key}) AS {key}" for key in _KEY)
    + ", m.event_id IS NOT NULL AS expected, o.event_id IS NOT NULL AS actual"
    " FROM expected_timeline AS m FULL JOIN actual_timeline AS o"
    f" ON {' AND '.join(f'o.{key} = m.{key}' for key in _KEY)}"
    " WHERE m.event_id IS NULL OR o.event_id IS NULL OR "
    + " OR ".join(f"m.{c} IS DISTINCT FROM o.{c}" for c in CONTRACT_COLUMNS if c not in _KEY),
    "CREATE OR REPLACE TEMP TABLE timeline_drift AS "
    + " UNION ALL ".join(
        f"(SELECT '{problem}' AS problem, {columns(CONTRACT_COLUMNS, 'r.')} FROM {side} AS r"
        f" JOIN drift_keys AS k ON {' AND '.join(f'k.{key} = r.{key}' for key in _KEY)}"
        f" WHERE k.{flag})"
        for problem, side, flag in (
            ("missing or wrong in view", "expected_timeline", "expected"),
            ("unexpected in view", "actual_timeline", "actual"),
        )
    ),
    "DROP TABLE drift_keys",
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


def _keyed_drift(mine: str, theirs: str, keys: tuple[str, ...], compared: tuple[str, ...]) -> str:
    """How many rows of ``mine`` have no row of ``theirs`` with the same ``keys`` and
    ``compared`` values (each side holds one row per key)."""
    joined = " AND ".join(f"o.{key} = m.{key}" for key in keys)
    differs = " OR ".join(f"m.{column} IS DISTINCT FROM o.{column}" for column in compared)
    return (
        f"(SELECT count(*) FROM {mine} AS m LEFT JOIN {theirs} AS o ON {joined}"
        f" WHERE o.{keys[0]} IS NULL OR {differs})"
    )


_SUMMARY_FIGURES = tuple(c for c in SUMMARY_COLUMNS if c != "shipment_id")

# A summary is one row per shipment on each side (both are grouped by it), so the
# join on shipment_id is exact without a check.
_SUMMARY_DRIFT = "SELECT " + " + ".join(
    _keyed_drift(mine, theirs, ("shipment_id",), _SUMMARY_FIGURES)
    for mine, theirs in (
        ("expected_summary", "actual_summary"),
        ("actual_summary", "expected_summary"),
    )
)


# The KPI facts the runs keep (timeline.facts) against the recompute's, both ways.
_FACTS_DRIFT = "SELECT " + " + ".join(
    _keyed_drift(mine, theirs, keys, compared)
    for first, second, keys, compared in (
        ("expected_facts", "actual_facts", ("shipment_id",), FACT_COLUMNS),
        ("expected_dwell", "actual_dwell", ("shipment_id", "location_id"), ("dwell_us",)),
    )
    for mine, theirs in ((first, second), (second, first))
)

_SCRATCH = (
    "in_part",
    "expected_timeline",
    "actual_timeline",
    "expected_summary",
    "actual_summary",
    "expected_facts",
    "actual_facts",
    "expected_dwell",
    "actual_dwell",
)


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
    differing_facts: int = 0
    """KPI facts (a shipment's, or its dwell at a location) unlike the recompute's."""

    @property
    def drift(self) -> int:
        """Rows, summaries, KPI facts and shipments that differ from the full recompute."""
        return (
            self.differing_rows
            + self.differing_summaries
            + self.differing_facts
            + self.missing_shipments
        )

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
    rows_per_part: int = ROWS_PER_PART,
) -> VerifyResult:
    """Compare the real-time view and the summary with a full recompute.

    ``lookback_days`` is the base run's, to tell which shipments belong in the view.
    Held shipments are reported, not compared: their rows are known to be stale.
    The comparison runs over ranges of shipment ids of about ``rows_per_part`` rows
    each, so its memory is bounded by a part, not by the store.
    """
    started = time.perf_counter()
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
        compared = _Comparison(examples)
        for low, high in _shipment_ranges(backend, rows_per_part):
            compared.add(_compare_part(backend, seq, cutoff, low, high, examples))
        missing = 0
        if checkpoint.base_date is not None or every_shipment:
            missing = _missing_shipments(backend, seq, cutoff)
        shipments = int(backend.scalar("SELECT count(*) FROM in_view"))
        held = int(backend.scalar("SELECT count(*) FROM shipment_holds"))
        pending, oldest = backend.fetchone(
            "SELECT count(*), min(ingested_at) FROM shipment_events WHERE ingest_seq > ?",
            [checkpoint.last_ingest_seq],
        ) or (0, None)
        backend.execute("DROP TABLE in_view")
    return VerifyResult(
        shipments_checked=shipments,
        rows_checked=compared.rows,
        differing_rows=compared.differing_rows,
        differing_summaries=compared.differing_summaries,
        differing_facts=compared.differing_facts,
        missing_shipments=missing,
        duration_ms=(time.perf_counter() - started) * 1000,
        examples=compared.examples,
        pending_events=int(pending),
        oldest_pending_seconds=(
            0.0 if oldest is None else max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        ),
        held_shipments=held,
        max_pending_seconds=max_pending_seconds,
    )


@dataclass
class _Comparison:
    """The counts of every part so far, and the first ``limit`` differing rows."""

    limit: int
    rows: int = 0
    differing_rows: int = 0
    differing_summaries: int = 0
    differing_facts: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, part: _Comparison) -> None:
        self.rows += part.rows
        self.differing_rows += part.differing_rows
        self.differing_summaries += part.differing_summaries
        self.differing_facts += part.differing_facts
        # Parts come in shipment id order, so the first parts' examples come first.
        self.examples.extend(part.examples[: self.limit - len(self.examples)])


def _shipment_ranges(backend: Backend, rows_per_part: int) -> list[tuple[str | None, str | None]]:
    """Ranges ``[low, high)`` of shipment ids (``None``: unbounded) that cover every id
    and split the view's shipments into parts of about ``rows_per_part`` rows."""
    shipments, rows = backend.fetchone(
        "SELECT count(*), coalesce(sum(event_sequence), 0) FROM shipment_state AS s"
        " WHERE s.shipment_id IN (SELECT shipment_id FROM in_view)"
    ) or (0, 0)
    parts = max(1, -(-int(rows) // rows_per_part))
    if parts == 1:
        return [(None, None)]
    step = -(-int(shipments) // parts)
    bounds = [
        str(row[0])
        for row in backend.fetchall(
            "SELECT shipment_id FROM (SELECT shipment_id, row_number() OVER"
            " (ORDER BY shipment_id) AS n FROM in_view) AS numbered"
            " WHERE n > 1 AND (n - 1) % ? = 0 ORDER BY shipment_id",
            [step],
        )
    ]
    edges: list[str | None] = [None, *bounds, None]
    return list(pairwise(edges))


def _range_filter(column: str, low: str | None, high: str | None) -> tuple[str, list[Any]]:
    """SQL that holds for ``column`` in ``[low, high)``, with its parameters."""
    conditions, params = ["TRUE"], []
    if low is not None:
        conditions.append(f"{column} >= ?")
        params.append(low)
    if high is not None:
        conditions.append(f"{column} < ?")
        params.append(high)
    return " AND ".join(conditions), params


def _compare_part(
    backend: Backend,
    seq: int,
    cutoff: datetime | None,
    low: str | None,
    high: str | None,
    examples: int,
) -> _Comparison:
    """The drift of the shipments whose ids are in ``[low, high)``."""
    in_range, bounds = _range_filter("shipment_id", low, high)
    backend.execute(
        f"CREATE OR REPLACE TEMP TABLE in_part AS SELECT shipment_id FROM in_view WHERE {in_range}",
        bounds,
    )
    backend.execute(_EXPECTED, [seq, seq])
    actual_range, actual_bounds = _range_filter("s.shipment_id", low, high)
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE actual_timeline AS"
        f" SELECT * FROM shipment_timeline_realtime AS s WHERE {_NOT_HELD} AND {actual_range}"
        " AND (CAST(? AS TIMESTAMPTZ) IS NULL"
        " OR s.shipment_id IN (SELECT shipment_id FROM in_part))",
        [*actual_bounds, cutoff],
    )
    repeated = int(backend.scalar(f"SELECT {_REPEATED_KEYS}"))
    for statement in (_DRIFT_AS_SETS,) if repeated else _DRIFT_BY_KEY:
        backend.execute(statement)
    summary = columns(SUMMARY_COLUMNS)
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE expected_summary AS"
        f" SELECT {summary} FROM ({summary_rows('expected_timeline')}) AS expected"
    )
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE actual_summary AS"
        f" SELECT {summary} FROM shipment_summary AS s WHERE {_NOT_HELD} AND {actual_range}"
        " AND s.shipment_id IN (SELECT shipment_id FROM actual_timeline)",
        actual_bounds,
    )
    _select_facts(backend, actual_range, actual_bounds)
    part = _Comparison(
        examples,
        rows=int(backend.scalar("SELECT count(*) FROM expected_timeline")),
        differing_rows=int(backend.scalar("SELECT count(*) FROM timeline_drift")),
        differing_summaries=int(backend.scalar(_SUMMARY_DRIFT)),
        differing_facts=int(backend.scalar(_FACTS_DRIFT)),
        examples=backend.fetch_dicts(
            "SELECT * FROM timeline_drift ORDER BY shipment_id, event_sequence, problem LIMIT ?",
            [examples],
        ),
    )
    for table in (*_SCRATCH, "timeline_drift"):
        backend.execute(f"DROP TABLE {table}")
    return part


def _select_facts(backend: Backend, actual_range: str, actual_bounds: list[Any]) -> None:
    """The part's KPI facts and dwell, recomputed (``expected_*``) and as the runs
    keep them (``actual_*``), for the shipments compared."""
    backend.execute(
        f"CREATE OR REPLACE TEMP TABLE expected_facts AS {facts_of('expected_timeline')}"
    )
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE expected_dwell AS"
        f" {dwell_of(dwell_parts('expected_timeline'))}"
    )
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE actual_facts AS"
        f" SELECT s.shipment_id, {columns(FACT_COLUMNS, 's.')} FROM shipment_state AS s"
        f" WHERE s.in_view AND {actual_range}"
        " AND s.shipment_id IN (SELECT shipment_id FROM actual_timeline)",
        actual_bounds,
    )
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE actual_dwell AS SELECT s.shipment_id, s.location_id,"
        f" s.dwell_us FROM shipment_dwell AS s WHERE {actual_range}"
        " AND s.shipment_id IN (SELECT shipment_id FROM actual_timeline)",
        actual_bounds,
    )


def _missing_shipments(backend: Backend, seq: int, cutoff: datetime | None) -> int:
    """Shipments with current events in the window that are not in the view."""
    return int(
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
