"""The monitor's metrics and alert states in Prometheus' text format.

Names are prefixed ``shipline_monitor_`` (plus a unit suffix) so they never clash
with the API's own ``shipline_*`` metrics in a shared registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shipline.monitor.metrics import METRICS

_SUFFIX = {"duration": "_seconds", "ratio": "_ratio", "money": "_dollars", "count": "", "rate": ""}


def prometheus_name(metric: str) -> str:
    """The exported name of a metric, e.g. ``shipline_monitor_processing_lag_seconds``."""
    name = f"shipline_monitor_{metric}"
    if METRICS[metric].kind == "rate":
        return f"{name}_per_minute"
    return name + _SUFFIX[METRICS[metric].kind]


class MonitorCollector(Collector):
    """A collector that reads fresh metrics (and alert states) at every scrape."""

    def __init__(
        self,
        read_metrics: Callable[[], dict[str, float]],
        read_alerts: Callable[[], Sequence[dict[str, Any]]] | None = None,
    ) -> None:
        self.read_metrics = read_metrics
        self.read_alerts = read_alerts

    def collect(self) -> Iterable[Metric]:
        """One gauge per metric, and ``shipline_monitor_alert_firing`` per rule."""
        for name, value in self.read_metrics().items():
            if name in METRICS:
                yield GaugeMetricFamily(prometheus_name(name), METRICS[name].help, value=value)
        if self.read_alerts is not None:
            firing = GaugeMetricFamily(
                "shipline_monitor_alert_firing",
                "1 while an alert rule fires, 0 when it is resolved.",
                labels=["rule", "severity"],
            )
            for row in self.read_alerts():
                firing.add_metric(
                    [str(row["rule_name"]), str(row["severity"])],
                    1.0 if row["state"] == "firing" else 0.0,
                )
            yield firing


def render_prometheus(
    metrics: dict[str, float], alerts: Sequence[dict[str, Any]] | None = None
) -> bytes:
    """The Prometheus text exposition of one metrics snapshot (and alert states)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        MonitorCollector(lambda: metrics, (lambda: alerts) if alerts is not None else None)
    )
    return generate_latest(registry)
