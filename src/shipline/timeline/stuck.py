"""Stuck shipments: silent for longer than their lane and stage usually allow.

A shipment is stuck when the time since its last event is beyond the 95th
percentile of the gap that followed the same event type on the same lane in the
timeline's history. A (lane, event type) segment with too few gaps falls back to
the event type on every lane, then to every gap; a shipment with no segment of
enough samples gets no verdict. Delivered, returned and cancelled shipments are
done, never stuck.

The usual gaps are learned by each base run (``stuck_thresholds``), as the
prediction model is: reading them from every gap in the view took seconds per
call at ten million events, and the metric, the quality check and the listing's
``stuck`` filter each call. Until the first base run they are read from the view.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from string import Template
from typing import Any

from shipline.errors import ValidationError
from shipline.store import Backend
from shipline.timeline.kpis import LANE

MIN_SAMPLES = 20
"""Gaps a segment needs before its percentile is trusted."""
QUANTILE = 0.95

_GAPS = f"""
gaps AS (
    SELECT
        {LANE} AS lane,
        t.event_type,
        epoch_us(t.next_event_timestamp) - epoch_us(t.event_timestamp) AS gap_us
    FROM shipment_timeline_realtime AS t
    LEFT JOIN packages AS p ON p.shipment_id = t.shipment_id
    WHERE t.next_event_timestamp IS NOT NULL
),
by_lane AS (
    SELECT lane, event_type, count(*) AS samples, quantile_disc(gap_us, {QUANTILE}) AS p95_us
    FROM gaps WHERE lane IS NOT NULL GROUP BY lane, event_type
),
by_stage AS (
    SELECT event_type, count(*) AS samples, quantile_disc(gap_us, {QUANTILE}) AS p95_us
    FROM gaps GROUP BY event_type
),
overall AS (
    SELECT count(*) AS samples, quantile_disc(gap_us, {QUANTILE}) AS p95_us FROM gaps
)
"""
"""The usual gaps, read from every gap in the view."""

_LEARNED_GAPS = """
by_lane AS (
    SELECT lane, event_type, samples, p95_us FROM stuck_thresholds WHERE kind = 'lane'
),
by_stage AS (SELECT event_type, samples, p95_us FROM stuck_thresholds WHERE kind = 'stage'),
overall AS (SELECT samples, p95_us FROM stuck_thresholds WHERE kind = 'global')
"""
"""The usual gaps as the last base run learned them."""

_LEARN = f"""
CREATE OR REPLACE TEMP TABLE stuck_learned AS
WITH {_GAPS}
SELECT CAST('lane' AS VARCHAR) AS kind, lane, event_type, samples, p95_us FROM by_lane
UNION ALL
SELECT 'stage', CAST(NULL AS VARCHAR), event_type, samples, p95_us FROM by_stage
UNION ALL
SELECT 'global', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), samples, p95_us FROM overall
"""

# Parameters: now, the minimum samples.
_STUCK = Template(
    f"""
WITH knobs AS (
    SELECT CAST(? AS TIMESTAMPTZ) AS now, CAST(? AS BIGINT) AS min_samples
),
$usual_gaps,
silent AS (
    SELECT
        s.shipment_id,
        s.status,
        s.event_type AS last_event_type,
        s.event_id AS last_event_id,
        s.event_timestamp AS last_event_timestamp,
        s.location_id,
        s.carrier,
        {LANE} AS lane,
        epoch_us(k.now) - epoch_us(s.event_timestamp) AS gap_us
    FROM shipment_state AS s
    CROSS JOIN knobs AS k
    LEFT JOIN packages AS p ON p.shipment_id = s.shipment_id
    WHERE s.in_view AND s.status NOT IN ('delivered', 'returned', 'cancelled')
),
judged AS (
    SELECT
        c.*,
        CASE
            WHEN l.samples >= k.min_samples THEN 'lane'
            WHEN g.samples >= k.min_samples THEN 'stage'
            WHEN o.samples >= k.min_samples THEN 'global'
        END AS segment,
        CASE
            WHEN l.samples >= k.min_samples THEN l.samples
            WHEN g.samples >= k.min_samples THEN g.samples
            WHEN o.samples >= k.min_samples THEN o.samples
        END AS segment_samples,
        CASE
            WHEN l.samples >= k.min_samples THEN l.p95_us
            WHEN g.samples >= k.min_samples THEN g.p95_us
            WHEN o.samples >= k.min_samples THEN o.p95_us
        END AS usual_gap_p95_us
    FROM silent AS c
    CROSS JOIN knobs AS k
    CROSS JOIN overall AS o
    LEFT JOIN by_lane AS l ON l.lane = c.lane AND l.event_type = c.last_event_type
    LEFT JOIN by_stage AS g ON g.event_type = c.last_event_type
)
SELECT
    shipment_id, status, last_event_type, last_event_id, last_event_timestamp,
    location_id, carrier, lane, gap_us, usual_gap_p95_us, segment, segment_samples
FROM judged
WHERE segment IS NOT NULL AND gap_us > usual_gap_p95_us
"""
)


def learn_thresholds(backend: Backend) -> int:
    """Learn the usual gaps from the view into ``stuck_thresholds`` (the base run's
    step); return how many gaps they were learned from."""
    with backend.transaction():
        backend.execute(_LEARN)
        backend.execute("DELETE FROM stuck_thresholds")
        backend.execute(
            "INSERT INTO stuck_thresholds SELECT kind, lane, event_type, samples, p95_us, ?"
            " FROM stuck_learned",
            [datetime.now(UTC)],
        )
        backend.execute("DROP TABLE stuck_learned")
        gaps = backend.scalar("SELECT samples FROM stuck_thresholds WHERE kind = 'global'")
    return int(gaps or 0)


def thresholds_learned_at(backend: Backend) -> datetime | None:
    """When the usual gaps were last learned; None before the first base run."""
    found = backend.scalar("SELECT max(learned_at) FROM stuck_thresholds")
    return found if isinstance(found, datetime) else None


def stuck_query(
    backend: Backend, now: datetime, min_samples: int = MIN_SAMPLES
) -> tuple[str, list[Any]]:
    """The query of stuck shipments as of ``now``, and its parameters.

    It judges by the usual gaps the last base run learned; before the first base
    run, by every gap in the view (a scan: seconds at ten million events).
    """
    learned = thresholds_learned_at(backend) is not None
    usual_gaps = _LEARNED_GAPS if learned else _GAPS
    return _STUCK.substitute(usual_gaps=usual_gaps.strip()), [now, min_samples]


@dataclass(frozen=True)
class StuckShipment:
    """A stuck shipment and why: its silence against the usual one, and whose usual."""

    shipment_id: str
    status: str
    last_event_type: str
    last_event_id: str
    last_event_timestamp: datetime
    location_id: str | None
    carrier: str | None
    lane: str | None
    gap_hours: float
    usual_gap_p95_hours: float
    segment: str
    """``lane`` (this lane and event type), ``stage`` (this event type) or ``global``."""
    segment_samples: int

    @property
    def reason(self) -> str:
        """One sentence a person reads."""
        after = {
            "lane": f"after {self.last_event_type} on lane {self.lane}",
            "stage": f"after {self.last_event_type} on every lane",
            "global": "after any event",
        }[self.segment]
        return (
            f"silent {self.gap_hours:,.1f} h since {self.last_event_type}; the gap {after}"
            f" is at most {self.usual_gap_p95_hours:,.1f} h 95% of the time"
            f" ({self.segment_samples:,} gaps)"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the reason."""
        return {**asdict(self), "reason": self.reason}


def stuck_shipments(
    backend: Backend, now: datetime, min_samples: int = MIN_SAMPLES, limit: int | None = None
) -> list[StuckShipment]:
    """The stuck shipments as of ``now``, longest past their usual gap first."""
    if limit is not None and limit < 1:
        raise ValidationError(f"limit: {limit} is not a positive number of shipments")
    query, params = stuck_query(backend, now, min_samples)
    order = " ORDER BY gap_us - usual_gap_p95_us DESC, shipment_id"
    tail = "" if limit is None else " LIMIT ?"
    rows = backend.fetch_dicts(
        f"SELECT * FROM ({query}) AS stuck{order}{tail}",
        params if limit is None else [*params, limit],
    )
    return [_stuck(row) for row in rows]


def count_stuck(backend: Backend, now: datetime, min_samples: int = MIN_SAMPLES) -> int:
    """How many shipments are stuck as of ``now``."""
    query, params = stuck_query(backend, now, min_samples)
    return int(backend.scalar(f"SELECT count(*) FROM ({query}) AS stuck", params))


_US_PER_HOUR = 3_600_000_000


def _stuck(row: dict[str, Any]) -> StuckShipment:
    return StuckShipment(
        shipment_id=row["shipment_id"],
        status=row["status"],
        last_event_type=row["last_event_type"],
        last_event_id=row["last_event_id"],
        last_event_timestamp=row["last_event_timestamp"],
        location_id=row["location_id"],
        carrier=row["carrier"],
        lane=row["lane"],
        gap_hours=int(row["gap_us"]) / _US_PER_HOUR,
        usual_gap_p95_hours=int(row["usual_gap_p95_us"]) / _US_PER_HOUR,
        segment=row["segment"],
        segment_samples=int(row["segment_samples"]),
    )
