"""The ``monitor_metrics`` time series: record a snapshot, prune past retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from shipline.store import Backend


def record_metrics(
    backend: Backend, metrics: dict[str, float], recorded_at: datetime, retention_days: float
) -> int:
    """Append one snapshot and drop rows older than the retention; return rows pruned."""
    snapshot = pa.table(
        {
            "name": pa.array(list(metrics), pa.string()),
            "value": pa.array([float(v) for v in metrics.values()], pa.float64()),
        }
    )
    cutoff = recorded_at - timedelta(days=retention_days)
    backend.register("incoming_monitor_metrics", snapshot)
    try:
        with backend.transaction():
            backend.execute(
                "INSERT INTO monitor_metrics (recorded_at, name, value)"
                " SELECT ?, name, value FROM incoming_monitor_metrics",
                [recorded_at],
            )
            pruned = backend.scalar(
                "SELECT count(*) FROM monitor_metrics WHERE recorded_at < ?", [cutoff]
            )
            backend.execute("DELETE FROM monitor_metrics WHERE recorded_at < ?", [cutoff])
    finally:
        backend.unregister("incoming_monitor_metrics")
    return int(pruned)


def metric_history(
    backend: Backend, name: str, since: datetime | None = None
) -> list[dict[str, Any]]:
    """One metric's recorded values, oldest first (for the dashboard's charts)."""
    after = " AND recorded_at >= ?" if since is not None else ""
    return backend.fetch_dicts(
        f"SELECT recorded_at, value FROM monitor_metrics WHERE name = ?{after}"
        " ORDER BY recorded_at",
        [name, since] if since is not None else [name],
    )


def latest_metrics(backend: Backend) -> dict[str, float]:
    """The newest recorded snapshot (empty before the first): cheap enough for every scrape."""
    rows = backend.fetchall(
        "SELECT name, value FROM monitor_metrics"
        " WHERE recorded_at = (SELECT max(recorded_at) FROM monitor_metrics)"
    )
    return {str(name): float(value) for name, value in rows}
