"""The dashboard's reads that the facade does not offer, through ``pipeline.backend``.

Everything here is a small aggregate or a bounded list (DuckDB dialect, values as
parameters), cheap enough to poll every two seconds on a laptop-sized store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipline.events.vocabulary import DEFAULT_STATUS
from shipline.pipeline import Pipeline

RATE_WINDOW_SECONDS = 60
"""Rates on the diagram are per second over the last minute."""

STATUSES = tuple(dict.fromkeys(DEFAULT_STATUS.values()))
"""The eight statuses of DESIGN section 2, in vocabulary order."""

RUN_COLUMNS = (
    "run_id, process_type, started_at, duration_ms, from_ingest_seq, to_ingest_seq, events,"
    " shipments_affected, late_shipments, rows_written, full_recompute_rows"
)


def stage_counts(pipeline: Pipeline, now: datetime | None = None) -> dict[str, Any]:
    """Counts and per-second rates for the stages that the status does not cover."""
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
    backend = pipeline.backend
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
        "sources": sources,
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
        "loader": {"by_status": loads},
    }


def recent_runs(pipeline: Pipeline, limit: int = 10) -> list[dict[str, Any]]:
    """The newest base and incremental runs, newest first."""
    return pipeline.backend.fetch_dicts(
        f"SELECT {RUN_COLUMNS} FROM processing_runs ORDER BY started_at DESC LIMIT ?", [limit]
    )


def run_covering(pipeline: Pipeline, ingest_seq: int) -> dict[str, Any] | None:
    """The newest run that processed the event with ``ingest_seq``, if one has."""
    rows = pipeline.backend.fetch_dicts(
        f"SELECT {RUN_COLUMNS} FROM processing_runs"
        " WHERE from_ingest_seq < ? AND to_ingest_seq >= ? AND events > 0"
        " ORDER BY started_at DESC LIMIT 1",
        [ingest_seq, ingest_seq],
    )
    return rows[0] if rows else None


def ingest_seq_of(pipeline: Pipeline, event_id: str) -> int | None:
    """The ``ingest_seq`` of a stored event, or None."""
    value = pipeline.backend.scalar(
        "SELECT max(ingest_seq) FROM shipment_events WHERE event_id = ?", [event_id]
    )
    return None if value is None else int(value)


def regions(pipeline: Pipeline) -> list[str]:
    """The regions of the locations reference table, sorted."""
    rows = pipeline.backend.fetchall(
        "SELECT DISTINCT region FROM locations WHERE region IS NOT NULL ORDER BY region"
    )
    return [str(row[0]) for row in rows]


def search_shipments(
    pipeline: Pipeline,
    *,
    query: str = "",
    status: str | None = None,
    region: str | None = None,
    late: bool = False,
    exceptions: bool = False,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Shipments of ``shipment_summary`` matching the filters, newest activity first.

    ``query`` matches the start of the id (case-insensitive); ``region`` is the region
    of the current location; ``late`` means ``on_time`` is false; ``exceptions`` means
    at least one exception event.
    """
    where = ["1 = 1"]
    params: list[Any] = []
    if query:
        # A prefix compared as text, not a LIKE pattern: a % or _ typed in the search
        # stays itself (Redshift's starts_with is rendered as LIKE ... || '%'). Ids are
        # ASCII by contract, so Python's lower() is the engines' lower().
        prefix = query.lower()
        where.append("left(lower(s.shipment_id), ?) = ?")
        params.extend([len(prefix), prefix])
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
    return pipeline.backend.fetch_dicts(
        "SELECT s.shipment_id, s.current_status, s.current_location_id, l.region,"
        " s.event_count, s.first_event_timestamp, s.last_event_timestamp,"
        " s.total_transit_hours, s.exception_count, s.on_time, s.delay_hours"
        " FROM shipment_summary AS s LEFT JOIN locations AS l"
        " ON l.location_id = s.current_location_id"
        f" WHERE {' AND '.join(where)}"
        " ORDER BY s.last_event_timestamp DESC, s.shipment_id LIMIT ?",
        [*params, limit],
    )


def location_dwell(pipeline: Pipeline, shipment_id: str) -> list[dict[str, Any]]:
    """Hours the shipment spent per location (``shipment_location_dwell``)."""
    return pipeline.backend.fetch_dicts(
        "SELECT d.location_id, l.location_name, d.events, d.dwell_hours"
        " FROM shipment_location_dwell AS d LEFT JOIN locations AS l"
        " ON l.location_id = d.location_id WHERE d.shipment_id = ?"
        " ORDER BY d.dwell_hours DESC",
        [shipment_id],
    )


def open_dead_letters(pipeline: Pipeline, limit: int = 20) -> list[dict[str, Any]]:
    """The newest open dead letters without their payloads (read scope may see them)."""
    return pipeline.backend.fetch_dicts(
        "SELECT dead_letter_id, received_at, source, reason FROM dead_letters"
        " WHERE state = 'open' ORDER BY dead_letter_id DESC LIMIT ?",
        [limit],
    )


def series(pipeline: Pipeline, minutes: int, now: datetime | None = None) -> dict[str, Any]:
    """Metrics over time: per-minute throughput and error rate, per-run duration and lag.

    Throughput and errors come from ``shipment_events`` and ``dead_letters`` bucketed
    by minute; batch duration and lag (the oldest event's wait when its run finished)
    from ``processing_runs``; anything the monitor recorded from ``monitor_metrics``.
    """
    now = now or datetime.now(UTC)
    since = now - timedelta(minutes=minutes)
    backend = pipeline.backend
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
    monitor: dict[str, list[dict[str, Any]]] = {}
    for row in recorded:
        monitor.setdefault(str(row["name"]), []).append(
            {"recorded_at": row["recorded_at"], "value": row["value"]}
        )
    return {
        "since": since,
        "minutes": minutes,
        "per_minute": per_minute,
        "runs": runs,
        "monitor": monitor,
    }
