"""Carrier, lane and location performance, exact with the summary and dwell views.

Every figure is one ``shipment_summary`` or ``shipment_location_dwell`` defines
(plus, for the carrier and the first delivery attempt, the real-time view they are
built on), read from the facts the runs keep (``timeline.facts``): a row per
shipment in ``shipment_state`` and a row per shipment and location in
``shipment_dwell``, not every timeline row. Percentiles are discrete
(``percentile_disc``): each is a value that occurred, and every engine picks the
same one, so DuckDB and PostgreSQL agree to the last digit.
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
from shipline.timeline.sql import hours_from_microseconds
from shipline.timeline.views import ON_TIME

GroupBy = Literal["carrier", "lane", "location"]
GROUPINGS: tuple[GroupBy, ...] = ("carrier", "lane", "location")

LANE = "p.origin_location_id || '>' || p.destination_location_id"
"""A shipment's lane, ``ORIGIN>DESTINATION`` from the packages reference table."""

_FACTS = Template(
    """
WITH facts AS (
    SELECT
        s.shipment_id,
        s.delivered_at,
        $on_time AS on_time,
        s.exception_count,
        CASE WHEN s.delivered_at IS NOT NULL THEN $transit_us END AS transit_us,
        s.delivered_sequence IS NOT NULL AND (
            s.attempted_sequence IS NULL OR s.attempted_sequence > s.delivered_sequence
        ) AS first_attempt,
        s.carrier,
        $lane AS lane
    FROM shipment_state AS s
    LEFT JOIN packages AS p ON p.shipment_id = s.shipment_id
    WHERE s.in_view AND s.first_event_timestamp >= CAST(? AS TIMESTAMPTZ)
),
dwell AS (SELECT shipment_id, location_id, dwell_us FROM shipment_dwell),
keyed AS ($keyed),
shipment_figures AS (
    SELECT
        group_key,
        count(*) AS shipments,
        count(delivered_at) AS delivered,
        count(on_time) AS promised,
        count(*) FILTER (WHERE on_time) AS on_time,
        count(*) FILTER (WHERE exception_count > 0) AS with_exceptions,
        count(*) FILTER (WHERE first_attempt) AS first_attempt,
        quantile_disc(transit_us, 0.5) AS transit_us_p50,
        quantile_disc(transit_us, 0.9) AS transit_us_p90
    FROM keyed
    GROUP BY group_key
),
dwell_figures AS (
    SELECT
        k.group_key,
        quantile_disc(k.dwell_us, 0.5) AS dwell_us_p50,
        quantile_disc(k.dwell_us, 0.9) AS dwell_us_p90
    FROM $dwell_keyed
    GROUP BY k.group_key
)
-- Hours are exact rounded microseconds, and rounding keeps the order, so the
-- percentile of the hours is the hours of the percentile: converted once per group.
SELECT f.*,
    $transit_hours_p50 AS transit_hours_p50, $transit_hours_p90 AS transit_hours_p90,
    $dwell_hours_p50 AS dwell_hours_p50, $dwell_hours_p90 AS dwell_hours_p90
FROM shipment_figures AS f
LEFT JOIN dwell_figures AS d ON d.group_key = f.group_key
"""
)

_DWELL_KEYED = (
    "(SELECT g.group_key, d.dwell_us FROM keyed AS g"
    " JOIN dwell AS d ON d.shipment_id = g.shipment_id) AS k"
)
"""Every dwell row of each group's shipments."""

_LOCATION_DWELL_KEYED = "(SELECT group_key, location_dwell_us AS dwell_us FROM keyed) AS k"
"""By location, a group's rows are its dwell rows already (a shipment's at the location)."""

_KEYED = {
    None: "SELECT CAST('all' AS VARCHAR) AS group_key, f.* FROM facts AS f",
    "carrier": "SELECT f.carrier AS group_key, f.* FROM facts AS f",
    "lane": "SELECT f.lane AS group_key, f.* FROM facts AS f",
    # a shipment counts at every location it spent time at
    "location": (
        "SELECT d.location_id AS group_key, d.dwell_us AS location_dwell_us, f.*"
        " FROM facts AS f JOIN dwell AS d ON d.shipment_id = f.shipment_id"
    ),
}

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


def kpi_query(by: GroupBy | None) -> str:
    """The query of a grouping's figures, one row per group; it takes the ``since``
    bound as its one parameter."""
    if by not in _KEYED:
        raise ValidationError(
            f"cannot group KPIs by {by!r}; use one of {', '.join(GROUPINGS)} (or none)"
        )
    return _FACTS.substitute(
        transit_us="epoch_us(s.delivered_at)"
        " - epoch_us(coalesce(s.picked_up_at, s.first_event_timestamp))",
        lane=LANE,
        on_time=ON_TIME,
        **{
            f"{figure}_hours_{p}": hours_from_microseconds(f"{alias}.{figure}_us_{p}")
            for figure, alias in (("transit", "f"), ("dwell", "d"))
            for p in ("p50", "p90")
        },
        keyed=_KEYED[by],
        dwell_keyed=_DWELL_KEYED if by != "location" else _LOCATION_DWELL_KEYED,
    )


def kpis(backend: Backend, by: GroupBy | None = None, since: datetime | None = None) -> KpiReport:
    """Performance per carrier, lane or location (or overall), of the shipments whose
    first event is at or after ``since``.

    Transit time runs from pickup (or the first event, without one) to the first
    delivery. One query over the kept facts.
    """
    started = time.perf_counter()
    rows = backend.fetch_dicts(kpi_query(by), [since or EPOCH])
    groups = [_kpi(row) for row in rows]
    groups.sort(key=lambda kpi: (-kpi.shipments, kpi.group is None, kpi.group or ""))
    return KpiReport(by, since, groups, (time.perf_counter() - started) * 1000)


def _kpi(row: dict[str, Any]) -> Kpi:
    return Kpi(
        group=row["group_key"],
        shipments=int(row["shipments"]),
        delivered=int(row["delivered"]),
        on_time_rate=_rate(row["on_time"], row["promised"]),
        transit_hours_p50=row["transit_hours_p50"],
        transit_hours_p90=row["transit_hours_p90"],
        exception_rate=_rate(row["with_exceptions"], row["shipments"]),
        dwell_hours_p50=row["dwell_hours_p50"],
        dwell_hours_p90=row["dwell_hours_p90"],
        first_attempt_rate=_rate(row["first_attempt"], row["delivered"]),
    )


def _rate(part: Any, whole: Any) -> float | None:
    return int(part) / int(whole) if whole else None
