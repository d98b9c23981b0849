"""Monitoring output a person reads at 80 columns: numbers with their units, ratios
as percentages, quality examples as table rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipline.monitor import evaluate_rules, parse_rules, reading, with_unit
from shipline.monitor.rules import parse_condition
from tests.conftest import Shipline
from tests.monitor.conftest import Recorder, event
from tests.monitor.test_cli import EVENTS, flat

ERRORS_RULE = (
    "Alerts:\n  Errors:\n    condition: 'error_rate > 5%'\n"
    "    severity: WARNING\n    action: Look at dead letters\n"
)


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (1008880.0, "count", "1,008,880"),
        (0.00101198, "ratio", "0.10%"),
        (0.05, "ratio", "5.00%"),
        (1.5, "money", "$1.50"),
        (42.0, "duration", "42.0 s"),
        (252.0, "duration", "4.2 min"),
        (7200.0, "duration", "2.0 h"),
        (12.25, "rate", "12.2/min"),
    ],
)
def test_a_metric_value_is_shown_in_its_unit(value: float, kind: str, shown: str) -> None:
    assert with_unit(value, kind) == shown


@pytest.mark.parametrize(
    ("condition", "value", "shown"),
    [
        ("error_rate > 5%", 0.00101198, "error_rate 0.10%, not > 5%"),
        ("error_rate > 5%", 0.3333, "error_rate 33.33% > 5%"),
        ("processing_lag > 30 minutes", 252.0, "processing_lag 4.2 min, not > 30 minutes"),
        ("daily_cost > $150", 151.5, "daily_cost $151.50 > $150"),
        ("pending_events >= 1000", 1008880.0, "pending_events 1,008,880 >= 1000"),
    ],
)
def test_an_alert_condition_reads_its_value_in_the_rules_unit(
    condition: str, value: float, shown: str
) -> None:
    assert parse_condition(condition).reading(value) == shown
    assert reading(condition, value) == shown


def test_a_condition_that_no_longer_parses_is_shown_as_written() -> None:
    assert reading("retired_metric > 3", 0.5) == "retired_metric > 3 (now 0.5)"


def test_an_error_rate_alert_is_printed_as_a_percentage(
    shipline: Shipline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    (shipline.folder / "alerts.yaml").write_text(ERRORS_RULE)
    bad = '{"shipment_id": "S9", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}\n'
    shipline("ingest", "-", stdin=EVENTS + bad)
    checked = shipline("alerts", "check", "--report-only", "--no-notify")
    assert checked.returncode == 0, checked.stderr
    assert "Errors [WARNING] error_rate 33.33% > 5%" in flat(checked.stdout)
    status = shipline("alerts", "status")
    assert status.returncode == 0, status.stderr
    assert "error_rate 33.33% > 5%" in status.stdout  # on one line of its table
    assert "0.3333" not in status.stdout


def test_alert_notifications_read_the_value_in_the_rules_unit(
    make_pipeline: Any, recorder: Recorder
) -> None:
    pipeline = make_pipeline(monitor_window_minutes=60)
    now = datetime.now(UTC)
    records = [event("S1", now, "picked_up"), event("S2", now, "picked_up"), {"x": 1}]
    pipeline.ingest_records(records, "test")
    rules = parse_rules(ERRORS_RULE)
    evaluate_rules(pipeline.backend, rules, pipeline.metrics(now), recorder, now)
    later = now + timedelta(minutes=61)
    evaluate_rules(pipeline.backend, rules, pipeline.metrics(later), recorder, later)
    firing, resolved = (n.text for n in recorder.sent)
    assert firing.startswith("Errors is firing: error_rate 33.33% > 5%. Action: Look at")
    assert resolved == "Errors resolved: error_rate 0.00%, not > 5%."


def test_metrics_and_quality_print_no_exponents_nor_python_dicts(shipline: Shipline) -> None:
    assert shipline("ingest", "-", stdin=EVENTS).returncode == 0
    assert shipline("incremental").returncode == 0
    metrics = shipline("metrics")
    assert metrics.returncode == 0, metrics.stderr
    assert "e+0" not in metrics.stdout and "e-0" not in metrics.stdout
    quality = shipline("quality", "--report-only")
    assert quality.returncode == 0, quality.stderr
    assert "{'" not in quality.stdout
    assert "NOWHERE" in quality.stdout  # an example, as a row of its table
