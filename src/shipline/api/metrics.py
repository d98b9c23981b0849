"""Prometheus metrics of one app, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shipline.pipeline import Pipeline
from shipline.timeline.runs import RunResult

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Counters, histograms and gauges of ``shipline serve``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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

    def render(self, pipeline: Pipeline) -> bytes:
        """The Prometheus text format, with the gauges read from the pipeline now."""
        current = pipeline.status()
        self.lag.set(current.lag_seconds)
        self.pending.set(current.pending_events)
        self.checkpoint.set(current.checkpoint.last_ingest_seq)
        self.newest.set(current.newest_ingest_seq)
        self.dead_letters.set(current.open_dead_letters)
        self.held.set(current.held_shipments)
        return generate_latest(self.registry)
