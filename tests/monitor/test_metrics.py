"""collect_metrics: each figure read from constructed pipeline states, and its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipline.monitor import METRICS, collect_metrics, metric_history, record_metrics
from tests.monitor.conftest import event, hours


def test_an_empty_store_reads_zero_for_every_metric(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    values = pipeline.metrics()
    assert set(values) == set(METRICS)
    assert all(value == 0.0 for value in values.values())


def test_lag_freshness_throughput_and_error_rate(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    start = datetime.now(UTC) - hours(2)
    pipeline.ingest_records(
        [event("S1", start, "picked_up"), event("S1", start + hours(1), "in_transit"), {"x": 1}],
        "test",
    )
    now = datetime.now(UTC) + timedelta(minutes=10)
    before = collect_metrics(pipeline.backend, pipeline.settings, now)
    assert before["pending_events"] == 2
    assert 600 <= before["processing_lag"] < 660
    assert before["data_freshness"] == pytest.approx(3600 + 600, abs=60)
    assert before["throughput"] == pytest.approx(2 / 60)
    assert before["error_rate"] == pytest.approx(1 / 3)
    assert before["dead_letters_open"] == 1
    assert before["events_total"] == 2

    pipeline.incremental()
    after = collect_metrics(pipeline.backend, pipeline.settings, now)
    assert after["processing_lag"] == 0 and after["pending_events"] == 0
    assert after["runs"] == 1 and after["rows_written"] == 2
    assert after["batch_duration_last"] > 0
    assert after["processed_throughput"] == pytest.approx(2 / 60)
    assert after["query_latency"] > 0


def test_work_saved_ratio_compares_incremental_rows_with_a_full_recompute(
    make_pipeline: Any,
) -> None:
    pipeline = make_pipeline()
    start = datetime.now(UTC) - hours(5)
    pipeline.ingest_records([event(f"S{i}", start, "picked_up") for i in range(10)], "test")
    pipeline.incremental()
    pipeline.ingest_records([event("S0", start + hours(1), "in_transit")], "test")
    pipeline.incremental()
    values = pipeline.metrics()
    # First run: 10 of 10 rows; second: the new row and its predecessor, of 11.
    assert values["rows_written"] == 12 and values["full_recompute_rows"] == 21
    assert values["work_saved_ratio"] == pytest.approx(1 - 12 / 21)


def test_events_in_the_future_count_as_skew_and_do_not_hide_staleness(make_pipeline: Any) -> None:
    pipeline = make_pipeline()
    now = datetime.now(UTC)
    pipeline.ingest_records(
        [event("S1", now - hours(3), "picked_up"), event("S1", now + hours(5), "in_transit")],
        "test",
    )
    values = pipeline.metrics(now)
    assert values["future_events"] == 1
    assert values["data_freshness"] == pytest.approx(3 * 3600, abs=5)


def test_daily_cost_follows_the_cost_model(make_pipeline: Any) -> None:
    pipeline = make_pipeline(cost_per_million_events=2_000_000.0, cost_per_compute_second=0.0)
    pipeline.ingest_records([event("S1", datetime.now(UTC), "picked_up")], "test")
    pipeline.incremental()
    assert pipeline.metrics()["daily_cost"] == pytest.approx(2.0)
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert pipeline.metrics(later)["daily_cost"] == 0


def test_history_is_recorded_and_pruned_past_retention(make_pipeline: Any) -> None:
    pipeline = make_pipeline(monitor_retention_days=7)
    long_ago = datetime.now(UTC) - timedelta(days=8)
    record_metrics(pipeline.backend, {"processing_lag": 5.0}, long_ago, 7)
    assert len(metric_history(pipeline.backend, "processing_lag")) == 1
    values = pipeline.record_metrics()
    history = metric_history(pipeline.backend, "processing_lag")
    assert [row["value"] for row in history] == [values["processing_lag"]]
    assert pipeline.backend.scalar("SELECT count(DISTINCT name) FROM monitor_metrics") == len(
        METRICS
    )
