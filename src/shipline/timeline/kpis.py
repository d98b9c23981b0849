"""Carrier, lane and location performance, read from the summary and dwell views.

Every figure is derived from ``shipment_summary`` and ``shipment_location_dwell``
(plus, for the carrier and the first delivery attempt, the real-time view they are
built on), so the figures are exact whenever the views are. Percentiles are
discrete (``percentile_disc``): each is a value that occurred, and every engine
picks the same one, so DuckDB and PostgreSQL agree to the last digit.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from string import Template
from typing import Any, Literal

from shipline.errors import ValidationError
from shipline.store import Backend
from shipline.timeline.sql import hours_between

GroupBy = Literal["carrier", "lane", "location"]
GROUPINGS: tuple[GroupBy, ...] = ("carrier", "lane", "location")

LANE = "p.origin_location_id || '>' || p.destination_location_id"
"""A shipment's lane, ``ORIGIN>DESTINATION`` from the packages reference table."""

_FACTS = Template(
    """
WITH extras AS (
    -- the carrier of the shipment's latest event, and where its first delivery
    -- and first delivery attempt fall in its timeline
    SELECT
        t.shipment_id,
        max(CASE WHEN t.next_event_timestamp IS NULL THEN t.carrier END) AS carrier,
        min(CASE WHEN t.event_type = 'delivered' THEN t.event_sequence END)
            AS delivered_sequence,
        min(CASE WHEN t.event_type = 'delivery_attempted' THEN t.event_sequence END)
            AS attempted_sequence
    FROM shipment_timeline_realtime AS t
    GROUP BY t.shipment_id
),
facts AS (
    SELECT
        s.shipment_id,
        s.delivered_at,
        s.on_time,
        s.exception_count,
        CASE WHEN s.delivered_at IS NOT NULL THEN $transit_hours END AS transit_hours,
        x.delivered_sequence IS NOT NULL AND (
            x.attempted_sequence IS NULL OR x.attempted_sequence > x.delivered_sequence
        ) AS first_attempt,
        x.carrier,
        $lane AS lane
    FROM shipment_summary AS s
    JOIN extras AS x ON x.shipment_id = s.shipment_id
    LEFT JOIN packages AS p ON p.shipment_id = s.shipment_id
    WHERE s.first_event_timestamp >= CAST(? AS TIMESTAMPTZ)
),
keyed AS ($keyed)
"""
)

_KEYED = {
    None: "SELECT CAST('all' AS VARCHAR) AS group_key, f.* FROM facts AS f",
    "carrier": "SELECT f.carrier AS group_key, f.* FROM facts AS f",
    "lane": "SELECT f.lane AS group_key, f.* FROM facts AS f",
    # a shipment counts at every location it spent time at
    "location": (
        "SELECT d.location_id AS group_key, f.* FROM facts AS f"
        " JOIN (SELECT DISTINCT shipment_id, location_id FROM shipment_location_dwell) AS d"
        " ON d.shipment_id = f.shipment_id"
    ),
}

_SHIPMENT_FIGURES = """
SELECT
    group_key,
    count(*) AS shipments,
    count(delivered_at) AS delivered,
    count(on_time) AS promised,
    count(*) FILTER (WHERE on_time) AS on_time,
    count(*) FILTER (WHERE exception_count > 0) AS with_exceptions,
    count(*) FILTER (WHERE first_attempt) AS first_attempt,
    quantile_disc(transit_hours, 0.5) AS transit_hours_p50,
    quantile_disc(transit_hours, 0.9) AS transit_hours_p90
FROM keyed
GROUP BY group_key
"""

_DWELL_FIGURES = Template(
    """
SELECT
    k.group_key,
    count(*) AS dwell_samples,
    quantile_disc(d.dwell_hours, 0.5) AS dwell_hours_p50,
    quantile_disc(d.dwell_hours, 0.9) AS dwell_hours_p90
FROM keyed AS k
JOIN shipment_location_dwell AS d ON d.shipment_id = k.shipment_id $same_location
GROUP BY k.group_key
"""
)

EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class Kpi:
    """One group's performance. Rates are fractions, None when nothing to divide by:
    on time among delivered shipments with a promised date, first attempt among
    delivered ones, exceptions among all."""

    group: str | None
    shipments: int
    delivered: int
    on_time_rate: float | None
    transit_hours_p50: Decimal | None
    transit_hours_p90: Decimal | None
    exception_rate: float | None
    dwell_hours_p50: Decimal | None
    dwell_hours_p90: Decimal | None
    first_attempt_rate: float | None


@dataclass(frozen=True)
class KpiReport:
    """The KPIs of every group, most shipments first."""

    by: GroupBy | None
    since: datetime | None
    groups: list[Kpi]
    duration_ms: float
    cached: bool = False
    """Served from an earlier read at the same view version (``timeline.cache``)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return asdict(self)


def kpi_queries(by: GroupBy | None) -> tuple[str, str]:
    """The shipment-figures and dwell-figures queries for a grouping; each takes the
    ``since`` bound as its one parameter."""
    if by not in _KEYED:
        raise ValidationError(
            f"cannot group KPIs by {by!r}; use one of {', '.join(GROUPINGS)} (or none)"
        )
    facts = _FACTS.substitute(
        transit_hours=hours_between(
            "coalesce(s.picked_up_at, s.first_event_timestamp)", "s.delivered_at"
        ),
        lane=LANE,
        keyed=_KEYED[by],
    )
    same_location = "AND d.location_id = k.group_key" if by == "location" else ""
    return (
        facts + _SHIPMENT_FIGURES,
        facts + _DWELL_FIGURES.substitute(same_location=same_location),
    )


def kpis(backend: Backend, by: GroupBy | None = None, since: datetime | None = None) -> KpiReport:
    """Performance per carrier, lane or location (or overall), of the shipments whose
    first event is at or after ``since``.

    Transit time runs from pickup (or the first event, without one) to the first
    delivery. Two aggregate queries; the views are read once each.
    """
    started = time.perf_counter()
    shipments_sql, dwell_sql = kpi_queries(by)
    bound = [since or EPOCH]
    dwell = {row["group_key"]: row for row in backend.fetch_dicts(dwell_sql, bound)}
    groups = [
        _kpi(row, dwell.get(row["group_key"], {}))
        for row in backend.fetch_dicts(shipments_sql, bound)
    ]
    groups.sort(key=lambda kpi: (-kpi.shipments, kpi.group is None, kpi.group or ""))
    return KpiReport(by, since, groups, (time.perf_counter() - started) * 1000)


def _kpi(row: dict[str, Any], dwell: dict[str, Any]) -> Kpi:
    return Kpi(
        group=row["group_key"],
        shipments=int(row["shipments"]),
        delivered=int(row["delivered"]),
        on_time_rate=_rate(row["on_time"], row["promised"]),
        transit_hours_p50=row["transit_hours_p50"],
        transit_hours_p90=row["transit_hours_p90"],
        exception_rate=_rate(row["with_exceptions"], row["shipments"]),
        dwell_hours_p50=dwell.get("dwell_hours_p50"),
        dwell_hours_p90=dwell.get("dwell_hours_p90"),
        first_attempt_rate=_rate(row["first_attempt"], row["delivered"]),
    )


def _rate(part: Any, whole: Any) -> float | None:
    return int(part) / int(whole) if whole else None
