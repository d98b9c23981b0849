"""Monitoring output a person reads at 80 columns: numbers with their units, ratios
as percentages, quality examples as table rows."""

from __future__ import annotations

import pytest

from shipline.cli.monitor import with_unit
from tests.conftest import Shipline
from tests.monitor.test_cli import EVENTS, flat


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


def test_an_error_rate_alert_is_printed_as_a_percentage(shipline: Shipline) -> None:
    (shipline.folder / "alerts.yaml").write_text(
        "Alerts:\n  Errors:\n    condition: 'error_rate > 5%'\n"
        "    severity: WARNING\n    action: Look at dead letters\n"
    )
    bad = '{"shipment_id": "S9", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "x"}\n'
    shipline("ingest", "-", stdin=EVENTS + bad)
    checked = shipline("alerts", "check", "--report-only", "--no-notify")
    assert checked.returncode == 0, checked.stderr
    assert "error_rate > 5%: now 33.33%" in flat(checked.stdout)


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
