"""The pipeline at a glance: stage counts, recent runs, searches and series, over a backend.

What the dashboard polls, read through ``Pipeline``. Everything here is a small
aggregate or a bounded list (values as parameters), cheap enough to poll every two
seconds on a laptop-sized store. Rows are plain dicts, typed by the ``TypedDict``
that names their columns, so they go to JSON as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict, cast

from shipline.events.vocabulary import DEFAULT_STATUS
from shipline.store import Backend

RATE_WINDOW_SECONDS = 60
"""Rates on the diagram are per second over the last minute."""

STATUSES = tuple(dict.fromkeys(DEFAULT_STATUS.values()))
"""The eight statuses of DESIGN section 2, in vocabulary order."""

RUN_COLUMNS = (
    "run_id, process_type, started_at, duration_ms, from_ingest_seq, to_ingest_seq, events,"
    " shipments_affected, late_shipments, rows_written, full_recompute_rows"
)


class SourceCount(TypedDict):
    """Events stored from one source (its name before any ``:``)."""

    source: str
    events: int


class IngestRates(TypedDict):
    """Accepted and rejected events per second over the rate window."""

    accepted_per_second: float
    rejected_per_second: float
    dead_letters_total: int


class TimelineRates(TypedDict):
    """Timeline runs in all, and their pace over the rate window."""

    runs_total: int
    processed_per_second: float
    runs_last_window: int


class LoadCount(TypedDict):
    """Landing-zone files of one load status, and their rows."""

    status: str
    files: int
    rows: int


class LoaderCounts(TypedDict):
    """The load ledger by status."""

    by_status: list[LoadCount]


class StageCounts(TypedDict):
    """Counts and rates for the stages the status does not cover."""

    rate_window_seconds: int
    sources: list[SourceCount]
    ingest: IngestRates
    timeline: TimelineRates
    loader: LoaderCounts


class RunRow(TypedDict):
    """One base or incremental run, as ``processing_runs`` records it."""

    run_id: str
    process_type: str
    started_at: datetime
    duration_ms: float
    from_ingest_seq: int
    to_ingest_seq: int
    events: int
    shipments_affected: int
    late_shipments: int
    rows_written: int
    full_recompute_rows: int


class ShipmentMatch(TypedDict):
    """A shipment a search found: its summary and the region it is in."""

    shipment_id: str
    current_status: str | None
    current_location_id: str | None
    region: str | None
    event_count: int
    first_event_timestamp: datetime
    last_event_timestamp: datetime
    total_transit_hours: Decimal | None
    exception_count: int
    on_time: bool | None
    delay_hours: Decimal | None


class LocationDwell(TypedDict):
    """Hours a shipment spent at one location."""

    location_id: str
    location_name: str | None
    events: int
    dwell_hours: Decimal


class OpenDeadLetter(TypedDict):
    """An open dead letter without its payload."""

    dead_letter_id: int
    received_at: datetime
    source: str
    reason: str


class MinuteCounts(TypedDict):
    """Events accepted and rejected in one minute."""

    minute: datetime
    accepted: int
    rejected: int


class RunPoint(TypedDict):
    """A run that processed events, with the wait of its oldest event when it finished."""

    started_at: datetime
    process_type: str
    duration_ms: float
    events: int
    rows_written: int
    full_recompute_rows: int
    lag_seconds: float | Decimal | None


class MetricPoint(TypedDict):
    """One value the monitor recorded."""

    recorded_at: datetime
    value: float


class MetricSeries(TypedDict):
    """Metrics over time since ``since`` (``minutes`` before now)."""

    since: datetime
    minutes: int
    per_minute: list[MinuteCounts]
    runs: list[RunPoint]
    monitor: dict[str, list[MetricPoint]]


def stage_counts(backend: Backend, now: datetime | None = None) -> StageCounts:
    """Counts and per-second rates for the stages that the status does not cover."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    sources = backend.fetch_dicts(
        "SELECT split_part(source, ':', 1) AS source, count(*) AS events"
        " FROM shipment_events GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    accepted_recent = int(
        backend.scalar("SELECT count(*) FROM shipment_events WHERE ingested_at >= ?", [since])
    )
    dead = backend.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE received_at >= ?) FROM dead_letters", [since]
    ) or (0, 0)
    runs = backend.fetchone(
        "SELECT count(*), coalesce(sum(events) FILTER (WHERE started_at >= ?), 0),"
        " count(*) FILTER (WHERE started_at >= ?) FROM processing_runs",
        [since, since],
    ) or (0, 0, 0)
    loads = backend.fetch_dicts(
        "SELECT status, count(*) AS files, CAST(coalesce(sum(rows), 0) AS BIGINT) AS rows"
        " FROM load_ledger GROUP BY status ORDER BY status"
    )
    window = float(RATE_WINDOW_SECONDS)
    return {
        "rate_window_seconds": RATE_WINDOW_SECONDS,
        "sources": cast(list[SourceCount], sources),
        "ingest": {
            "accepted_per_second": accepted_recent / window,
            "rejected_per_second": int(dead[1]) / window,
            "dead_letters_total": int(dead[0]),
        },
        "timeline": {
            "runs_total": int(runs[0]),
            "processed_per_second": int(runs[1]) / window,
            "runs_last_window": int(runs[2]),
        },
        "loader": {"by_status": cast(list[LoadCount], loads)},
    }


def recent_runs(backend: Backend, limit: int = 10) -> list[RunRow]:
    """The newest base and incremental runs, newest first."""
    rows = backend.fetch_dicts(
        f"SELECT {RUN_COLUMNS} FROM processing_runs ORDER BY started_at DESC LIMIT ?", [limit]
    )
    return cast(list[RunRow], rows)


def run_covering(backend: Backend, ingest_seq: int) -> RunRow | None:
    """The newest run that processed the event with ``ingest_seq``, if one has."""
    rows = backend.fetch_dicts(
        f"SELECT {RUN_COLUMNS} FROM processing_runs"
        " WHERE from_ingest_seq < ? AND to_ingest_seq >= ? AND events > 0"
        " ORDER BY started_at DESC LIMIT 1",
        [ingest_seq, ingest_seq],
    )
    return cast(RunRow, rows[0]) if rows else None


def ingest_seq_of(backend: Backend, event_id: str) -> int | None:
    """The ``ingest_seq`` of a stored event, or None."""
    value = backend.scalar(
        "SELECT max(ingest_seq) FROM shipment_events WHERE event_id = ?", [event_id]
    )
    return None if value is None else int(value)


def regions(backend: Backend) -> list[str]:
    """The regions of the locations reference table, sorted."""
    rows = backend.fetchall(
        "SELECT DISTINCT region FROM locations WHERE region IS NOT NULL ORDER BY region"
    )
    return [str(row[0]) for row in rows]


def search_shipments(
    backend: Backend,
    *,
    query: str = "",
    status: str | None = None,
    region: str | None = None,
    late: bool = False,
    exceptions: bool = False,
    limit: int = 50,
) -> list[ShipmentMatch]:
    """Shipments of ``shipment_summary`` matching the filters, newest activity first.

    ``query`` matches the start of the id (case-insensitive); ``region`` is the region
    of the current location; ``late`` means ``on_time`` is false; ``exceptions`` means
    at least one exception event.
    """
    where = ["1 = 1"]
    params: list[Any] = []
    if query:
        # A prefix compared as text, not a LIKE pattern: a % or _ typed in the search
        # stays itself (Redshift's starts_with is rendered as LIKE ... || '%'). The
        # engine lowers both sides, so an id in any script compares as it stores it.
        # Any reference of a shipment (booking, container, ...) finds it too.
        prefix = (
            "left(lower({column}), length(lower(CAST(? AS VARCHAR)))) = lower(CAST(? AS VARCHAR))"
        )
        where.append(
            f"({prefix.format(column='s.shipment_id')} OR s.shipment_id IN"
            f" (SELECT r.shipment_id FROM shipment_references AS r"
            f" WHERE {prefix.format(column='r.reference')}))"
        )
        params.extend([query, query, query, query])
    if status:
        where.append("s.current_status = ?")
        params.append(status)
    if region:
        where.append("l.region = ?")
        params.append(region)
    if late:
        where.append("s.on_time = false")
    if exceptions:
        where.append("s.exception_count > 0")
    rows = backend.fetch_dicts(
        "SELECT s.shipment_id, s.current_status, s.current_location_id, l.region,"
        " s.event_count, s.first_event_timestamp, s.last_event_timestamp,"
        " s.total_transit_hours, s.exception_count, s.on_time, s.delay_hours"
        " FROM shipment_summary AS s LEFT JOIN locations AS l"
        " ON l.location_id = s.current_location_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY s.last_event_timestamp DESC, s.shipment_id LIMIT ?",
        [*params, limit],
    )
    return cast(list[ShipmentMatch], rows)


def location_dwell(backend: Backend, shipment_id: str) -> list[LocationDwell]:
    """Hours the shipment spent per location (``shipment_location_dwell``), longest first."""
    rows = backend.fetch_dicts(
        "SELECT d.location_id, l.location_name, d.events, d.dwell_hours"
        " FROM shipment_location_dwell AS d LEFT JOIN locations AS l"
        " ON l.location_id = d.location_id WHERE d.shipment_id = ?"
        " ORDER BY d.dwell_hours DESC",
        [shipment_id],
    )
    return cast(list[LocationDwell], rows)


def open_dead_letters(backend: Backend, limit: int = 20) -> list[OpenDeadLetter]:
    """The newest open dead letters without their payloads (read scope may see them)."""
    rows = backend.fetch_dicts(
        "SELECT dead_letter_id, received_at, source, reason FROM dead_letters"
        " WHERE state = 'open' ORDER BY dead_letter_id DESC LIMIT ?",
        [limit],
    )
    return cast(list[OpenDeadLetter], rows)


def series(backend: Backend, minutes: int, now: datetime | None = None) -> MetricSeries:
    """Metrics over time: per-minute throughput and error rate, per-run duration and lag.

    Throughput and errors come from ``shipment_events`` and ``dead_letters`` bucketed
    by minute; batch duration and lag (the oldest event's wait when its run finished)
    from ``processing_runs``; anything the monitor recorded from ``monitor_metrics``.
    """
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=minutes)
    per_minute = backend.fetch_dicts(
        "WITH accepted AS (SELECT date_trunc('minute', ingested_at) AS minute, count(*) AS n"
        " FROM shipment_events WHERE ingested_at >= ? GROUP BY 1),"
        " rejected AS (SELECT date_trunc('minute', received_at) AS minute, count(*) AS n"
        " FROM dead_letters WHERE received_at >= ? GROUP BY 1)"
        " SELECT coalesce(a.minute, r.minute) AS minute, coalesce(a.n, 0) AS accepted,"
        " coalesce(r.n, 0) AS rejected FROM accepted AS a FULL JOIN rejected AS r"
        " ON a.minute = r.minute ORDER BY 1",
        [since, since],
    )
    runs = backend.fetch_dicts(
        "SELECT r.started_at, r.process_type, r.duration_ms, r.events, r.rows_written,"
        " r.full_recompute_rows,"
        " CASE WHEN e.ingested_at IS NULL THEN NULL ELSE greatest(0, epoch_us(r.started_at)"
        " + CAST(r.duration_ms * 1000 AS BIGINT) - epoch_us(e.ingested_at)) / 1000000.0"
        " END AS lag_seconds"
        " FROM processing_runs AS r LEFT JOIN shipment_events AS e"
        " ON e.ingest_seq = r.from_ingest_seq + 1"
        " WHERE r.started_at >= ? AND r.events > 0 ORDER BY r.started_at",
        [since],
    )
    recorded = backend.fetch_dicts(
        "SELECT name, recorded_at, value FROM monitor_metrics"
        " WHERE recorded_at >= ? AND name IN ('throughput', 'processing_lag', 'error_rate',"
        " 'batch_duration_last') ORDER BY recorded_at",
        [since],
    )
    monitor: dict[str, list[MetricPoint]] = {}
    for row in recorded:
        monitor.setdefault(str(row["name"]), []).append(
            {"recorded_at": row["recorded_at"], "value": row["value"]}
        )
    return {
        "since": since,
        "minutes": minutes,
        "per_minute": cast(list[MinuteCounts], per_minute),
        "runs": cast(list[RunPoint], runs),
        "monitor": monitor,
    }
