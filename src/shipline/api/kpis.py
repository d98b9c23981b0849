"""Analytics reads: KPIs per carrier, lane or location, and shipments by filter.

``GET /v1/shipments`` pages by keyset: each answer's ``next_cursor`` is passed back
as ``cursor`` for the next page, and ``limit`` is cut to ``MAX_LIMIT``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from shipline.api.auth import ReadKey
from shipline.api.state import services
from shipline.errors import ValidationError
from shipline.jsonable import jsonable
from shipline.timeline.kpis import GROUPINGS, GroupBy
from shipline.timeline.shipments import MAX_LIMIT, ShipmentFilter

router = APIRouter(tags=["analytics"])

Moment = Annotated[datetime | None, Query(description="ISO-8601 with an offset or Z.")]


@router.get("/v1/kpis")
def get_kpis(
    request: Request,
    _key: ReadKey,
    by: Annotated[GroupBy | None, Query(description=f"One of {', '.join(GROUPINGS)}.")] = None,
    since: Moment = None,
) -> Any:
    """On-time, transit, exception, dwell and first-attempt figures per group, of the
    shipments whose first event is at or after ``since``."""
    report = services(request).pipeline.kpis(by, _aware("since", since))
    return jsonable(report.as_dict())


@router.get("/v1/shipments")
def list_shipments(
    request: Request,
    _key: ReadKey,
    status: str | None = None,
    carrier: str | None = None,
    lane: Annotated[str | None, Query(description="ORIGIN>DESTINATION location ids.")] = None,
    location: Annotated[str | None, Query(description="The current location.")] = None,
    since: Moment = None,
    until: Moment = None,
    stuck: bool | None = None,
    late: bool | None = None,
    limit: Annotated[int, Query(ge=1, description=f"At most {MAX_LIMIT} are returned.")] = 100,
    cursor: str | None = None,
) -> Any:
    """Shipments by current status, carrier, lane, location and last-event time, stuck
    or late or not, newest activity first, a keyset page at a time."""
    filters = ShipmentFilter(
        status=status,
        carrier=carrier,
        lane=lane,
        location=location,
        since=_aware("since", since),
        until=_aware("until", until),
        stuck=stuck,
        late=late,
    )
    page = services(request).pipeline.list_shipments(filters, limit, cursor)
    return jsonable(
        {"shipments": page.shipments, "next_cursor": page.next_cursor, "limit": page.limit}
    )


def _aware(name: str, moment: datetime | None) -> datetime | None:
    """A time with its offset; a time without one is ambiguous and refused."""
    if moment is not None and moment.tzinfo is None:
        raise ValidationError(f"{name} {moment.isoformat()} has no offset; add Z or +HH:MM")
    return moment
