"""Monitoring: metrics, data-quality checks, alert rules and their notifications."""

from shipline.monitor.alerts import AlertOutcome, alert_states, evaluate_rules
from shipline.monitor.history import latest_metrics, metric_history, record_metrics
from shipline.monitor.metrics import METRICS, collect_metrics, with_unit
from shipline.monitor.prometheus import MonitorCollector, render_prometheus
from shipline.monitor.quality import QualityCheck, run_quality_checks
from shipline.monitor.rules import Rule, load_rules, parse_rules, reading, resolve_rules_path

__all__ = [
    "METRICS",
    "AlertOutcome",
    "MonitorCollector",
    "QualityCheck",
    "Rule",
    "alert_states",
    "collect_metrics",
    "evaluate_rules",
    "latest_metrics",
    "load_rules",
    "metric_history",
    "parse_rules",
    "reading",
    "record_metrics",
    "render_prometheus",
    "resolve_rules_path",
    "run_quality_checks",
    "with_unit",
]
