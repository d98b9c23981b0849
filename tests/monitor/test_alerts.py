"""Each default rule fires and resolves on constructed data, and notifies exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipline.monitor import evaluate_rules, load_rules
from shipline.pipeline import Pipeline
from tests.monitor.conftest import Recorder, event, hours


def states(pipeline: Pipeline, now: datetime, recorder: Recorder) -> dict[str, str]:
    outcomes = evaluate_rules(pipeline.backend, load_rules(), pipeline.metrics(now), recorder, now)
    return {outcome.rule: outcome.state for outcome in outcomes}


def sent(recorder: Recorder, rule: str) -> list[str]:
    return [n.details["state"] for n in recorder.sent if n.details["rule"] == rule]


def test_processing_lag_fires_past_30_minutes_and_resolves_once_processed(
    make_pipeline: Any, recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up")], "test")
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert states(pipeline, soon, recorder)["ProcessingLag"] == "ok"
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert states(pipeline, later, recorder)["ProcessingLag"] == "firing"
    pipeline.incremental()
    assert states(pipeline, later, recorder)["ProcessingLag"] == "ok"
    assert [n.subject for n in recorder.sent] == [
        "shipline: [WARNING] ProcessingLag firing",
        "shipline: [WARNING] ProcessingLag resolved",
    ]


def test_error_rate_fires_above_5_percent_and_resolves_when_the_window_is_clean(
    make_pipeline: Any, recorder: Recorder
) -> None:
    pipeline = make_pipeline(monitor_window_minutes=60)
    now = datetime.now(UTC)
    good = [event(f"S{i}", now, "picked_up") for i in range(19)]
    pipeline.ingest_records(good, "test")
    # 1 rejected of 20 received is exactly 5%: not above it.
    pipeline.ingest_records([{"shipment_id": "S1"}], "test")
    assert states(pipeline, now, recorder)["HighErrorRate"] == "ok"
    pipeline.ingest_records([{"shipment_id": "S2"}], "test")
    assert states(pipeline, now, recorder)["HighErrorRate"] == "firing"
    assert states(pipeline, now + timedelta(minutes=61), recorder)["HighErrorRate"] == "ok"
    # By then the unprocessed events are an hour old, so ProcessingLag fires too.
    assert sent(recorder, "HighErrorRate") == ["firing", "ok"]
    assert recorder.sent[0].details["severity"] == "CRITICAL"


def test_missing_events_fires_above_1000_overdue_shipments_and_resolves_on_delivery(
    make_pipeline: Any, recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    stale = now - hours(49)  # in_transit is expected to move within 48 hours
    pipeline.ingest_records([event(f"S{i}", stale, "in_transit") for i in range(1001)], "test")
    pipeline.incremental()
    assert pipeline.metrics(now)["missing_events"] == 1001
    assert states(pipeline, now, recorder)["DataQualityIssue"] == "firing"
    pipeline.ingest_records([event("S0", now - hours(1), "delivered")], "test")
    pipeline.incremental()
    assert states(pipeline, now, recorder)["DataQualityIssue"] == "ok"
    assert [n.kind for n in recorder.sent] == ["failure", "success"]
    assert sent(recorder, "DataQualityIssue") == ["firing", "ok"]


def test_daily_cost_fires_above_150_dollars_and_resolves_a_day_later(
    make_pipeline: Any, recorder: Recorder
) -> None:
    # 1 event at $200 per event: an exaggerated cost model makes one run expensive.
    pipeline = make_pipeline(cost_per_million_events=200_000_000.0)
    pipeline.ingest_records([event("S1", datetime.now(UTC), "delivered")], "test")
    pipeline.incremental()
    now = datetime.now(UTC)
    assert states(pipeline, now, recorder)["CostAnomaly"] == "firing"
    assert states(pipeline, now + timedelta(days=1, minutes=1), recorder)["CostAnomaly"] == "ok"
    assert [n.subject for n in recorder.sent] == [
        "shipline: [INFO] CostAnomaly firing",
        "shipline: [INFO] CostAnomaly resolved",
    ]


def test_a_rule_notifies_once_while_it_keeps_firing_and_state_survives_reopening(
    make_pipeline: Any, recorder: Recorder
) -> None:
    pipeline = make_pipeline()
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up")], "test")
    late = datetime.now(UTC) + hours(1)
    for _ in range(3):
        states(pipeline, late, recorder)
    assert len(recorder.sent) == 1
    first = {row["rule_name"]: row for row in pipeline.alert_states()}["ProcessingLag"]
    assert first["state"] == "firing"

    # A new process over the same file remembers the state: still no second message.
    database = pipeline.settings.database
    pipeline.close()
    with Pipeline(pipeline.settings.model_copy(update={"database": database})) as reopened:
        states(reopened, late + hours(1), recorder)
        assert len(recorder.sent) == 1
        row = {r["rule_name"]: r for r in reopened.alert_states()}["ProcessingLag"]
        assert row["since"] == first["since"]
        reopened.incremental()
        states(reopened, late, recorder)
        states(reopened, late, recorder)
    assert sent(recorder, "ProcessingLag") == ["firing", "ok"]
    assert len(recorder.sent) == 2


def test_check_alerts_reads_the_configured_file_and_notifies_through_the_notifier(
    make_pipeline: Any, tmp_path: Any, caplog: Any
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        'Alerts:\n  Backlog:\n    condition: "pending_events >= 1"\n'
        '    severity: "WARNING"\n    action: "Run shipline incremental"\n'
    )
    pipeline = make_pipeline(alerts_file=str(rules), notify_backends=["log"])
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up")], "test")
    caplog.set_level("INFO", logger="shipline.notify")
    outcomes = pipeline.check_alerts()
    assert [(o.rule, o.state, o.changed) for o in outcomes] == [("Backlog", "firing", True)]
    assert any("Backlog is firing" in record.getMessage() for record in caplog.records)
    assert [o.changed for o in pipeline.check_alerts()] == [False]


def test_a_monitor_tick_records_one_snapshot_and_evaluates_the_rules(
    make_pipeline: Any, caplog: Any
) -> None:
    pipeline = make_pipeline(notify_backends=["log"])
    assert pipeline.latest_metrics() == {}
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up"), {"x": 1}], "test")
    caplog.set_level("INFO", logger="shipline.notify")
    outcomes = pipeline.monitor_tick()
    assert {o.rule: o.state for o in outcomes}["HighErrorRate"] == "firing"
    assert any("HighErrorRate is firing" in r.getMessage() for r in caplog.records)
    latest = pipeline.latest_metrics()
    assert latest["error_rate"] == 0.5 and latest["pending_events"] == 1
    pipeline.monitor_tick(now=datetime.now(UTC) + timedelta(seconds=1))
    assert pipeline.backend.scalar("SELECT count(DISTINCT recorded_at) FROM monitor_metrics") == 2
