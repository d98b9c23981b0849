"""Shipments by filter, newest activity first, a page at a time.

The listing reads ``shipment_state`` (one row per shipment: its latest event and
its KPI facts), so a page costs an index range scan on PostgreSQL (migration 0016)
however many shipments there are; ``late`` and ``stuck`` read no timeline row.
Pages are keyset pages: the cursor is the last row's (last event time, shipment
id), so a page never repeats or skips a shipment that did not move meanwhile, and
page 1000 costs what page 1 does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipline.errors import ValidationError
from shipline.store import Backend
from shipline.timeline.kpis import LANE
from shipline.timeline.stuck import MIN_SAMPLES, stuck_query

MAX_LIMIT = 1000
"""Shipments one page holds at most; a larger ``limit`` is cut to it."""

_SELECT = f"""
SELECT
    s.shipment_id,
    s.status,
    s.event_type AS last_event_type,
    s.event_timestamp AS last_event_timestamp,
    s.location_id,
    s.carrier,
    {LANE} AS lane,
    p.promised_delivery_at
FROM shipment_state AS s
LEFT JOIN packages AS p ON p.shipment_id = s.shipment_id
WHERE s.in_view"""

# Past its promised time without a delivery by then: delivered late, or not yet. A
# delivery by then is there when the first one is (``delivered_at``, a KPI fact).
_LATE = (
    "coalesce(p.promised_delivery_at < CAST(? AS TIMESTAMPTZ) AND NOT coalesce("
    "s.delivered_at <= p.promised_delivery_at, false), false)"
)


@dataclass(frozen=True)
class ShipmentFilter:
    """What to list; None leaves a field unfiltered. ``lane`` is ``ORIGIN>DESTINATION``;
    ``since``/``until`` bound the last event's time (until excluded)."""

    status: str | None = None
    carrier: str | None = None
    lane: str | None = None
    location: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    stuck: bool | None = None
    late: bool | None = None


@dataclass(frozen=True)
class ShipmentPage:
    """One page of shipments, and the cursor of the next (None on the last page)."""

    shipments: list[dict[str, Any]]
    next_cursor: str | None
    limit: int


def list_shipments(
    backend: Backend,
    filters: ShipmentFilter,
    now: datetime,
    limit: int = 100,
    cursor: str | None = None,
) -> ShipmentPage:
    """The page of shipments matching ``filters`` after ``cursor``, newest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    query, params = listing_query(backend, filters, now, limit + 1, cursor)
    rows = backend.fetch_dicts(query, params)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = (
        encode_cursor(page[-1]["last_event_timestamp"], page[-1]["shipment_id"]) if more else None
    )
    return ShipmentPage(page, next_cursor, limit)


def listing_query(
    backend: Backend,
    filters: ShipmentFilter,
    now: datetime,
    rows: int,
    cursor: str | None = None,
) -> tuple[str, list[Any]]:
    """The query of up to ``rows`` shipments after ``cursor``, and its parameters."""
    where, params = _conditions(backend, filters, now)
    if cursor is not None:
        last_timestamp, last_id = decode_cursor(cursor)
        # a row comparison, which an index on (event_timestamp, shipment_id) answers
        where.append("(s.event_timestamp, s.shipment_id) < (CAST(? AS TIMESTAMPTZ), ?)")
        params += [last_timestamp, last_id]
    query = "".join([_SELECT, *(f" AND {condition}" for condition in where)])
    order = " ORDER BY s.event_timestamp DESC, s.shipment_id DESC LIMIT ?"
    return query + order, [*params, rows]


def _conditions(
    backend: Backend, filters: ShipmentFilter, now: datetime
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("s.status", filters.status),
        ("s.carrier", filters.carrier),
        ("s.location_id", filters.location),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.lane is not None:
        origin, separator, destination = filters.lane.partition(">")
        if not separator:
            raise ValidationError(
                f"lane {filters.lane!r} is not ORIGIN>DESTINATION (two location ids and a >)"
            )
        where.append("p.origin_location_id = ? AND p.destination_location_id = ?")
        params += [origin, destination]
    if filters.since is not None:
        where.append("s.event_timestamp >= CAST(? AS TIMESTAMPTZ)")
        params.append(filters.since)
    if filters.until is not None:
        where.append("s.event_timestamp < CAST(? AS TIMESTAMPTZ)")
        params.append(filters.until)
    if filters.late is not None:
        where.append(_LATE if filters.late else f"NOT {_LATE}")
        params.append(now)
    if filters.stuck is not None:
        stuck, stuck_params = stuck_query(backend, now, MIN_SAMPLES)
        membership = "IN" if filters.stuck else "NOT IN"
        where.append(f"s.shipment_id {membership} (SELECT shipment_id FROM ({stuck}) AS stuck)")
        params += stuck_params
    return where, params


def encode_cursor(last_event_timestamp: datetime, shipment_id: str) -> str:
    """An opaque cursor: the last row's sort key."""
    raw = json.dumps([last_event_timestamp.isoformat(), shipment_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort key a cursor holds; a ValidationError for one shipline did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        timestamp, shipment_id = json.loads(raw)
        moment = datetime.fromisoformat(timestamp)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValidationError(
            "cursor is not one a shipments listing returned; pass its next_cursor unchanged"
        ) from error
    if not isinstance(shipment_id, str) or moment.tzinfo is None:
        raise ValidationError(
            "cursor is not one a shipments listing returned; pass its next_cursor unchanged"
        )
    return moment, shipment_id
