"""The pipeline's vital signs, read with a few aggregate queries.

Every figure is a float in its base unit (seconds, a fraction, dollars, a count),
so an alert rule compares like with like whatever unit its condition was written in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from shipline.errors import BackendError
from shipline.settings import Settings
from shipline.store import Backend
from shipline.timeline.runs import read_checkpoint
from shipline.timeline.stuck import count_stuck

Kind = Literal["duration", "ratio", "money", "count", "rate"]

TERMINAL_STATUSES = ("delivered", "returned", "cancelled")


@dataclass(frozen=True)
class MetricSpec:
    """What a metric measures and in which unit its value is."""

    kind: Kind
    help: str


METRICS: dict[str, MetricSpec] = {
    "processing_lag": MetricSpec(
        "duration", "Age of the oldest accepted event not yet processed (0 when none)."
    ),
    "pending_events": MetricSpec("count", "Accepted events past the checkpoint."),
    "data_freshness": MetricSpec(
        "duration", "Now minus the newest event time not in the future (0 with no events)."
    ),
    "throughput": MetricSpec("rate", "Events accepted per minute over the window."),
    "processed_throughput": MetricSpec(
        "rate", "Events processed by timeline runs per minute over the window."
    ),
    "error_rate": MetricSpec("ratio", "Rejected / received (accepted + rejected) over the window."),
    "events_accepted": MetricSpec("count", "Events accepted over the window."),
    "events_rejected": MetricSpec("count", "Records dead-lettered over the window."),
    "batch_duration_last": MetricSpec("duration", "Duration of the latest timeline run."),
    "batch_duration_mean": MetricSpec("duration", "Mean timeline run duration over the window."),
    "batch_duration_max": MetricSpec("duration", "Longest timeline run over the window."),
    "runs": MetricSpec("count", "Timeline runs over the window."),
    "rows_written": MetricSpec("count", "Rows incremental runs wrote over the window."),
    "full_recompute_rows": MetricSpec(
        "count", "Rows full recomputes would have written for those incremental runs."
    ),
    "work_saved_ratio": MetricSpec(
        "ratio", "1 - rows_written / full_recompute_rows over the window's incremental runs."
    ),
    "dead_letters_open": MetricSpec("count", "Dead letters waiting to be fixed."),
    "held_shipments": MetricSpec(
        "count", "Shipments held out of the timeline runs because their data made one fail."
    ),
    "missing_events": MetricSpec(
        "count",
        "In-view shipments in a non-terminal status whose next event is overdue"
        " (silent longer than the expected dwell for their status).",
    ),
    "future_events": MetricSpec(
        "count", "Events timestamped further in the future than the clock-skew tolerance."
    ),
    "stuck_shipments": MetricSpec(
        "count",
        "Open shipments silent beyond the 95th percentile of the gap their lane and last"
        " event type usually allow (see `shipline stuck`).",
    ),
    "daily_cost": MetricSpec(
        "money",
        "Estimated cost of the last 24 hours of runs: events processed times"
        " cost_per_million_events / 1e6 plus compute seconds times cost_per_compute_second.",
    ),
    "query_latency": MetricSpec(
        "duration", "Time to read the newest shipment's timeline from the real-time view once."
    ),
    "events_total": MetricSpec("count", "Accepted events stored."),
}


def with_unit(value: float, kind: str) -> str:
    """A metric's value (in its base unit) as a person reads it: ``4.2 min``, ``0.10%``,
    ``$1.50``, ``1,008,880``."""
    if kind == "ratio":
        return f"{value:.2%}"
    if kind == "money":
        return f"${value:,.2f}"
    if kind == "rate":
        return f"{value:,.1f}/min"
    if kind == "duration":
        for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
            if abs(value) >= size:
                return f"{value / size:,.1f} {unit}"
        return f"{value:,.1f} s"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# Parameters: checkpoint twice, now, window start twice, the clock-skew limit.
_COUNTS = """
SELECT
    (SELECT min(ingested_at) FROM shipment_events WHERE ingest_seq > ?),
    (SELECT count(*) FROM shipment_events WHERE ingest_seq > ?),
    (SELECT max(event_timestamp) FROM shipment_events WHERE event_timestamp <= ?),
    (SELECT count(*) FROM shipment_events WHERE ingested_at >= ?),
    (SELECT count(*) FROM dead_letters WHERE received_at >= ?),
    (SELECT count(*) FROM dead_letters WHERE state = 'open'),
    (SELECT count(*) FROM shipment_events WHERE event_timestamp > ?),
    (SELECT count(*) FROM shipment_events),
    (SELECT count(*) FROM shipment_holds)
"""

# Parameters: the window start six times, then the day start twice.
_RUNS = """
SELECT
    count(*) FILTER (WHERE started_at >= ?),
    coalesce(avg(duration_ms) FILTER (WHERE started_at >= ?), 0),
    coalesce(max(duration_ms) FILTER (WHERE started_at >= ?), 0),
    coalesce(sum(events) FILTER (WHERE started_at >= ?), 0),
    coalesce(sum(rows_written) FILTER (
        WHERE started_at >= ? AND process_type = 'incremental'), 0),
    coalesce(sum(full_recompute_rows) FILTER (
        WHERE started_at >= ? AND process_type = 'incremental'), 0),
    coalesce(sum(events) FILTER (WHERE started_at >= ?), 0),
    coalesce(sum(duration_ms) FILTER (WHERE started_at >= ?), 0),
    coalesce((SELECT duration_ms FROM processing_runs ORDER BY started_at DESC LIMIT 1), 0)
FROM processing_runs
"""

_SILENT_HOURS = "(epoch(CAST(? AS TIMESTAMPTZ)) - epoch(s.event_timestamp)) / 3600.0"


def overdue_shipments(settings: Settings, now: datetime) -> tuple[str, list[object]]:
    """The query of in-view shipments overdue for their next event, and its parameters.

    The shipment_state row is each shipment's latest processed event, so this reads
    one row per shipment rather than the timeline. Statuses without an expected dwell
    (delivered, returned, cancelled) are not expected to have a next event.
    """
    dwell = [
        (status, float(hours))
        for status, hours in settings.quality_expected_dwell_hours.items()
        if status not in TERMINAL_STATUSES
    ]
    if not dwell:
        return "SELECT NULL AS shipment_id WHERE 1 = 0", []
    # One (?, ?) pair per configured status: placeholders only, the values are parameters.
    pairs = ", ".join(["(?, ?)"] * len(dwell))
    query = (
        f"SELECT s.shipment_id, s.status, s.event_timestamp AS last_event_timestamp,"
        f" {_SILENT_HOURS} AS silent_hours, d.hours AS expected_hours"
        f" FROM shipment_state AS s"
        f" JOIN (VALUES {pairs}) AS d(status, hours) ON d.status = s.status"
        f" WHERE s.in_view AND {_SILENT_HOURS} > d.hours"
    )
    flat = [value for pair in dwell for value in pair]
    return query, [now, *flat, now]


def collect_metrics(
    backend: Backend, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, float]:
    """Read every metric in ``METRICS`` now; a handful of aggregate queries."""
    settings = settings or Settings()
    now = now or datetime.now(UTC)
    window = timedelta(minutes=settings.monitor_window_minutes)
    checkpoint = read_checkpoint(backend).last_ingest_seq
    counts = backend.fetchone(
        _COUNTS,
        [
            checkpoint,
            checkpoint,
            now,
            now - window,
            now - window,
            now + timedelta(seconds=settings.quality_clock_skew_seconds),
        ],
    )
    runs = backend.fetchone(_RUNS, [now - window] * 6 + [now - _DAY] * 2)
    if counts is None or runs is None:
        raise BackendError(
            "the monitor's aggregate queries returned no row; check the database connection"
        )
    oldest_pending, pending, newest, accepted, rejected, open_letters, future, total, held = counts
    (
        run_count,
        mean_ms,
        max_ms,
        run_events,
        rows_written,
        full_rows,
        day_events,
        day_ms,
        last_ms,
    ) = runs
    overdue_query, overdue_params = overdue_shipments(settings, now)
    overdue = backend.scalar(f"SELECT count(*) FROM ({overdue_query}) AS overdue", overdue_params)
    minutes = window.total_seconds() / 60
    received = int(accepted) + int(rejected)
    return {
        "processing_lag": _seconds_since(oldest_pending, now),
        "pending_events": float(pending),
        "data_freshness": _seconds_since(newest, now),
        "throughput": int(accepted) / minutes,
        "processed_throughput": float(run_events) / minutes,
        "error_rate": int(rejected) / received if received else 0.0,
        "events_accepted": float(accepted),
        "events_rejected": float(rejected),
        "batch_duration_last": float(last_ms) / 1000,
        "batch_duration_mean": float(mean_ms) / 1000,
        "batch_duration_max": float(max_ms) / 1000,
        "runs": float(run_count),
        "rows_written": float(rows_written),
        "full_recompute_rows": float(full_rows),
        "work_saved_ratio": 1 - float(rows_written) / float(full_rows) if full_rows else 0.0,
        "dead_letters_open": float(open_letters),
        "held_shipments": float(held),
        "missing_events": float(overdue),
        "future_events": float(future),
        "stuck_shipments": float(count_stuck(backend, now)),
        "daily_cost": float(day_events) / 1e6 * settings.cost_per_million_events
        + float(day_ms) / 1000 * settings.cost_per_compute_second,
        "query_latency": _probe_query_latency(backend),
        "events_total": float(total),
    }


_DAY = timedelta(days=1)


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    return max((now - moment).total_seconds(), 0.0)


def _probe_query_latency(backend: Backend) -> float:
    """One timed read of the newest shipment's timeline: what a user's query costs now."""
    newest = backend.scalar(
        "SELECT shipment_id FROM shipment_events ORDER BY ingest_seq DESC LIMIT 1"
    )
    if newest is None:
        return 0.0
    started = time.perf_counter()
    backend.fetchall(
        "SELECT * FROM shipment_timeline_realtime WHERE shipment_id = ? ORDER BY event_sequence",
        [newest],
    )
    return time.perf_counter() - started
