"""The monitor's /metrics text parses as Prometheus exposition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shipline.monitor import METRICS, MonitorCollector, render_prometheus
from shipline.monitor.prometheus import prometheus_name
from tests.monitor.conftest import event


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_every_metric_and_alert_state_is_exported(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up"), {"x": 1}], "test")
    pipeline.check_alerts(now=datetime.now(UTC) + timedelta(hours=1), notify=False)
    found = samples(pipeline.prometheus_metrics())
    for name in METRICS:
        assert (prometheus_name(name), ()) in found
    assert found[("shipline_monitor_pending_events", ())] == 1
    assert found[("shipline_monitor_error_rate_ratio", ())] == 0.5
    assert found[("shipline_monitor_processing_lag_seconds", ())] >= 0
    firing = (("rule", "ProcessingLag"), ("severity", "WARNING"))
    assert found[("shipline_monitor_alert_firing", firing)] == 1
    cost = (("rule", "CostAnomaly"), ("severity", "INFO"))
    assert found[("shipline_monitor_alert_firing", cost)] == 0


def test_the_collector_reads_fresh_values_at_each_scrape_in_a_shared_registry() -> None:
    values = {"processing_lag": 1.0, "throughput": 2.0, "daily_cost": 3.0}
    registry = CollectorRegistry()
    registry.register(MonitorCollector(lambda: values))
    first = samples(generate_latest(registry))
    assert first[("shipline_monitor_processing_lag_seconds", ())] == 1
    assert first[("shipline_monitor_throughput_per_minute", ())] == 2
    assert first[("shipline_monitor_daily_cost_dollars", ())] == 3
    values["processing_lag"] = 9.0
    assert samples(generate_latest(registry))[("shipline_monitor_processing_lag_seconds", ())] == 9


def test_render_without_alerts() -> None:
    found = samples(render_prometheus({"runs": 4.0}))
    assert found == {("shipline_monitor_runs", ()): 4.0}
