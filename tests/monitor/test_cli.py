"""``shipline quality``, ``shipline alerts`` and ``shipline metrics`` as a user runs them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Shipline

EVENTS = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "delivered"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T04:30:00Z", "event_type": "in_transit",'
    ' "location_id": "NOWHERE"}\n'
)


def flat(text: str) -> str:
    """Terminal output without rich's line wrapping."""
    return " ".join(text.split())


@pytest.mark.slow
def test_quality_json_reports_each_named_check(shipline: Shipline) -> None:
    assert shipline("ingest", "-", stdin=EVENTS).returncode == 0
    assert shipline("incremental").returncode == 0
    done = shipline("quality", "--json")
    assert done.returncode == 10, done.stderr  # a check fails
    assert "events_after_delivered, unknown_locations" in flat(done.stderr)
    assert shipline("quality", "--report-only").returncode == 0
    found = {check["name"]: check for check in json.loads(done.stdout)}
    assert found["events_after_delivered"]["count"] == 1
    assert found["unknown_locations"]["examples"][0]["location_id"] == "NOWHERE"
    assert found["future_events"]["passed"] is True


@pytest.mark.slow
def test_alerts_check_fires_once_and_reports_state(shipline: Shipline) -> None:
    rules = shipline.folder / "alerts.yaml"
    rules.write_text(
        "Alerts:\n  Backlog:\n    condition: 'pending_events > 0'\n"
        "    severity: WARNING\n    action: Run shipline incremental\n"
    )
    assert shipline("ingest", "-", stdin=EVENTS).returncode == 0
    first = shipline("alerts", "check", "--json")  # alerts.yaml in the cwd
    assert first.returncode == 10, first.stderr  # a rule fires
    assert "alerts firing: Backlog" in flat(first.stderr)
    [outcome] = json.loads(first.stdout)
    assert (outcome["rule"], outcome["state"], outcome["changed"]) == ("Backlog", "firing", True)
    assert "Backlog is firing" in flat(first.stderr)  # the log notifier
    again = shipline("alerts", "check", "--report-only")
    assert again.returncode == 0, again.stderr
    assert "FIRING Backlog [WARNING] pending_events 2 > 0 -> Run" in flat(again.stdout)
    assert "is firing" not in again.stderr
    status = json.loads(shipline("alerts", "status", "--json").stdout)
    assert [(row["rule_name"], row["state"]) for row in status] == [("Backlog", "firing")]


def test_a_bad_rules_file_exits_2_naming_rule_line_and_reason(shipline: Shipline) -> None:
    bad = shipline.folder / "bad.yaml"
    bad.write_text(
        "Alerts:\n  Lag:\n    severity: WARNING\n    condition: 'processing_lag > 30'\n"
        "    action: x\n"
    )
    done = shipline("alerts", "check", "--rules", str(bad))
    assert done.returncode == 2
    assert "rule 'Lag' line 4" in flat(done.stderr)
    assert "processing_lag is a duration" in flat(done.stderr)


def test_metrics_json_and_record(shipline: Shipline) -> None:
    done = shipline("metrics", "--json", "--record")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["processing_lag"] == 0
