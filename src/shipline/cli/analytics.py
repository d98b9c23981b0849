"""``shipline kpis``, ``shipline stuck`` and ``shipline shipments list``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from shipline.cli import render
from shipline.cli.options import open_pipeline
from shipline.cli.render import console, print_json
from shipline.errors import ValidationError
from shipline.timeline.shipments import MAX_LIMIT, ShipmentFilter

shipments_app = typer.Typer(help="Shipments by filter, a page at a time.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable results.")]


class Grouping(StrEnum):
    """What ``kpis`` groups by."""

    carrier = "carrier"
    lane = "lane"
    location = "location"


_KPI_COLUMNS = [
    "group",
    "shipments",
    "delivered",
    "on_time",
    "transit_p50_h",
    "transit_p90_h",
    "exceptions",
    "dwell_p50_h",
    "dwell_p90_h",
    "first_attempt",
]


def kpis(
    by: Annotated[Grouping | None, typer.Option(help="Group by carrier, lane or location.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only shipments whose first event is at or after this.")
    ] = None,
    as_json: Json = False,
) -> None:
    """On-time rate, transit p50/p90, exception rate, dwell p50/p90 and first-attempt
    delivery rate, overall or per carrier, lane (origin>destination) or location."""
    with open_pipeline() as pipeline:
        report = pipeline.kpis(by.value if by else None, _time("--since", since))
    if as_json:
        print_json(report.as_dict())
        return
    rows = [
        {
            "group": kpi.group,
            "shipments": kpi.shipments,
            "delivered": kpi.delivered,
            "on_time": _percent(kpi.on_time_rate),
            "transit_p50_h": kpi.transit_hours_p50,
            "transit_p90_h": kpi.transit_hours_p90,
            "exceptions": _percent(kpi.exception_rate),
            "dwell_p50_h": kpi.dwell_hours_p50,
            "dwell_p90_h": kpi.dwell_hours_p90,
            "first_attempt": _percent(kpi.first_attempt_rate),
        }
        for kpi in report.groups
    ]
    title = f"KPIs by {report.by}" if report.by else "KPIs"
    kept = "; the view is unchanged since the last read" if report.cached else ""
    took = f"{title} ({report.duration_ms:,.0f} ms{kept})"
    console.print(render.rows_table(rows, _KPI_COLUMNS, took))


def stuck(
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many.")] = None,
    as_json: Json = False,
) -> None:
    """Open shipments silent longer than their lane and last event type usually allow
    (beyond the 95th percentile of that gap), each with why."""
    with open_pipeline() as pipeline:
        found = pipeline.stuck(limit=limit)
    if as_json:
        print_json([shipment.as_dict() for shipment in found])
        return
    if not found:
        console.print("no shipment is stuck")
        return
    for shipment in found:
        console.print(f"{shipment.shipment_id}: {shipment.reason}", markup=False)


@shipments_app.command("list")
def shipments_list(
    status: Annotated[str | None, typer.Option(help="Current status.")] = None,
    carrier: Annotated[str | None, typer.Option(help="Carrier of the latest event.")] = None,
    lane: Annotated[str | None, typer.Option(help="ORIGIN>DESTINATION location ids.")] = None,
    location: Annotated[str | None, typer.Option(help="Current location.")] = None,
    since: Annotated[str | None, typer.Option(help="Last event at or after this time.")] = None,
    until: Annotated[str | None, typer.Option(help="Last event before this time.")] = None,
    is_stuck: Annotated[
        bool | None, typer.Option("--stuck/--not-stuck", help="Stuck (or not) only.")
    ] = None,
    late: Annotated[
        bool | None, typer.Option("--late/--not-late", help="Past the promised date (or not).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help=f"Page size, at most {MAX_LIMIT}.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="A next_cursor printed before.")] = None,
    as_json: Json = False,
) -> None:
    """Shipments matching the filters, newest activity first, one page."""
    filters = ShipmentFilter(
        status=status,
        carrier=carrier,
        lane=lane,
        location=location,
        since=_time("--since", since),
        until=_time("--until", until),
        stuck=is_stuck,
        late=late,
    )
    with open_pipeline() as pipeline:
        page = pipeline.list_shipments(filters, limit, cursor)
    if as_json:
        print_json({"shipments": page.shipments, "next_cursor": page.next_cursor})
        return
    columns = ["shipment_id", "status", "last_event_type", "last_event_timestamp", "carrier"]
    console.print(render.rows_table(page.shipments, [*columns, "lane"], "shipments"))
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}", markup=False)


def _time(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(f"{option}: {text!r} is not an ISO-8601 time") from error
    if value.tzinfo is None:
        raise ValidationError(f"{option}: {text!r} has no UTC offset; add Z or +HH:MM")
    return value


def _percent(rate: float | None) -> Any:
    return None if rate is None else f"{rate:.1%}"


def register(app: typer.Typer) -> None:
    """Add ``kpis``, ``stuck`` and ``shipments`` to the CLI."""
    app.command()(kpis)
    app.command()(stuck)
    app.add_typer(shipments_app, name="shipments")
