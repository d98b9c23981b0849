"""Prometheus metrics of one app, in a registry of its own."""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shipline.monitor import MonitorCollector
from shipline.pipeline import Pipeline
from shipline.timeline.runs import RunResult

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


SNAPSHOT_SECONDS = 5.0
"""How old the database's figures on ``/metrics`` may be: scrapes in between cost no query."""


class Snapshot:
    """The pipeline's status, the monitor's last recorded metrics and the alert states,
    read together at most every ``max_age`` seconds, whoever scrapes and how often."""

    def __init__(self, pipeline: Pipeline, max_age: float = SNAPSHOT_SECONDS) -> None:
        self.pipeline = pipeline
        self.max_age = max_age
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._status: Any = None
        self._metrics: dict[str, float] = {}
        self._alerts: list[dict[str, Any]] = []

    def refresh(self) -> None:
        """Read the figures again if they are older than ``max_age`` (one reader at a time)."""
        with self._lock:
            if time.monotonic() - self._read_at < self.max_age:
                return
            self._status = self.pipeline.status()
            self._metrics = self.pipeline.latest_metrics()
            self._alerts = self.pipeline.alert_states()
            self._read_at = time.monotonic()

    @property
    def status(self) -> Any:
        """The pipeline's ``Status`` as last read."""
        return self._status

    def latest_metrics(self) -> dict[str, float]:
        """The monitor's newest snapshot, as last read."""
        return self._metrics

    def alert_states(self) -> list[dict[str, Any]]:
        """The alert rules' states, as last read."""
        return self._alerts


class Metrics:
    """Counters, histograms and gauges of ``shipline serve``."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.snapshot = Snapshot(pipeline)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        r.register(MonitorCollector(self.snapshot.latest_metrics, self.snapshot.alert_states))
        self.ingested = Counter(
            "shipline_ingest_records",
            "Records received by the API, by outcome (accepted, duplicate, rejected).",
            ["outcome", "endpoint"],
            registry=r,
        )
        self.requests = Histogram(
            "shipline_http_request_duration_seconds",
            "HTTP request latency by route, method and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "shipline_runs",
            "Timeline runs by type and result.",
            ["process_type", "result"],
            registry=r,
        )
        self.run_duration = Histogram(
            "shipline_run_duration_seconds",
            "Timeline run duration by type.",
            ["process_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.run_events = Counter(
            "shipline_run_events",
            "Events processed by timeline runs.",
            ["process_type"],
            registry=r,
        )
        self.lag = Gauge(
            "shipline_processing_lag_seconds",
            "Age of the oldest accepted event not yet processed (0 when none).",
            registry=r,
        )
        self.pending = Gauge(
            "shipline_pending_events", "Accepted events past the checkpoint.", registry=r
        )
        self.checkpoint = Gauge(
            "shipline_checkpoint_ingest_seq", "The checkpoint's last_ingest_seq.", registry=r
        )
        self.newest = Gauge(
            "shipline_newest_ingest_seq", "The newest stored ingest_seq.", registry=r
        )
        self.dead_letters = Gauge(
            "shipline_dead_letters_open", "Dead letters waiting to be fixed.", registry=r
        )
        self.held = Gauge(
            "shipline_held_shipments",
            "Shipments held out of the timeline runs because their data made one fail.",
            registry=r,
        )

    def observe_run(self, result: RunResult) -> None:
        """Count a run that succeeded."""
        self.runs.labels(result.process_type, "ok").inc()
        self.run_duration.labels(result.process_type).observe(result.duration_ms / 1000)
        self.run_events.labels(result.process_type).inc(result.events)

    def render(self) -> bytes:
        """The Prometheus text format, with the database's figures of the last few seconds."""
        self.snapshot.refresh()
        current = self.snapshot.status
        self.lag.set(current.lag_seconds)
        self.pending.set(current.pending_events)
        self.checkpoint.set(current.checkpoint.last_ingest_seq)
        self.newest.set(current.newest_ingest_seq)
        self.dead_letters.set(current.open_dead_letters)
        self.held.set(current.held_shipments)
        return generate_latest(self.registry)
