"""The processor: batching window, batch size, retries with backoff, nightly base, drain."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any, cast

from shipline.errors import TransientBackendError
from shipline.pipeline import Pipeline
from shipline.server.processor import Processor, next_midnight_utc
from shipline.timeline.runs import RunResult
from tests.api.conftest import wait_for


class FakePipeline:
    """Records runs; fails the first ``failures`` incremental runs."""

    def __init__(self, failures: int = 0, leading: bool = True) -> None:
        self.failures = failures
        self.leading = leading
        self.incremental_runs = 0
        self.base_dates: list[date] = []
        self.lock = threading.Lock()

    def incremental(self) -> RunResult:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise TransientBackendError("busy; retry")
            self.incremental_runs += 1
        return RunResult("incremental", 1, 1, 1, 1, 0, 1, 1.0)

    def leads(self) -> bool:
        return self.leading

    def base(self, as_of: date | None = None) -> RunResult:
        assert as_of is not None
        self.base_dates.append(as_of)
        return RunResult("daily_base", 0, 0, 0, 0, 0, 0, 1.0)


def processor(fake: FakePipeline, **options: Any) -> Processor:
    values: dict[str, Any] = {"batch_size": 100, "window_seconds": 0.02}
    values.update(options)
    return Processor(cast(Pipeline, fake), **values)


def test_the_window_runs_a_small_batch() -> None:
    fake = FakePipeline()
    worker = processor(fake)
    worker.start()
    try:
        worker.notify(1)
        wait_for(lambda: fake.incremental_runs >= 1, timeout=5)
        assert worker.pending == 0
    finally:
        worker.stop()


def test_a_full_batch_runs_before_the_window_ends() -> None:
    fake = FakePipeline()
    worker = processor(fake, batch_size=5, window_seconds=60)
    worker.start()
    try:
        worker.notify(2)
        worker.notify(3)
        wait_for(lambda: fake.incremental_runs >= 1, timeout=5)
    finally:
        worker.stop()


def test_a_failing_run_is_retried_with_backoff() -> None:
    fake = FakePipeline(failures=3)
    failed: list[BaseException] = []
    worker = processor(fake, on_failure=failed.append, max_backoff_seconds=0.05)
    worker.start()
    try:
        worker.notify(1)
        wait_for(lambda: fake.incremental_runs >= 1, timeout=5)
        assert worker.stats.failures == 3 and len(failed) == 3
        assert worker.stats.last_error == "busy; retry"
    finally:
        worker.stop()


def test_stop_drains_pending_events() -> None:
    fake = FakePipeline()
    worker = processor(fake, window_seconds=60)
    worker.start()
    worker.notify(1)
    worker.stop()
    assert fake.incremental_runs == 1


def test_pending_events_from_a_previous_process_run_at_start() -> None:
    fake = FakePipeline()
    worker = processor(fake)
    worker.start(pending_at_start=7)
    try:
        wait_for(lambda: fake.incremental_runs >= 1, timeout=5)
    finally:
        worker.stop()


def test_the_base_runs_at_midnight_utc() -> None:
    now = [datetime(2026, 11, 23, 23, 59, 59, 990_000, tzinfo=UTC)]
    fake = FakePipeline()
    worker = processor(fake, clock=lambda: now[0])
    worker.start()
    try:
        assert fake.base_dates == []
        now[0] = datetime(2026, 11, 24, 0, 0, 0, 5, tzinfo=UTC)
        worker.notify(1)  # wakes the thread, which then sees the time
        wait_for(lambda: fake.base_dates == [date(2026, 11, 24)], timeout=5)
    finally:
        worker.stop()
    assert next_midnight_utc(datetime(2026, 11, 24, 0, 0, tzinfo=UTC)) == datetime(
        2026, 11, 25, tzinfo=UTC
    )


def test_a_worker_that_does_not_lead_leaves_the_base_to_the_one_that_does() -> None:
    now = [datetime(2026, 11, 23, 23, 59, 59, 990_000, tzinfo=UTC)]
    fake = FakePipeline(leading=False)
    worker = processor(fake, clock=lambda: now[0])
    worker.start()
    try:
        now[0] = datetime(2026, 11, 24, 0, 0, 0, 5, tzinfo=UTC)
        worker.notify(1)
        wait_for(lambda: worker.stats.bases_left_to_leader == 1, timeout=5)
        wait_for(lambda: fake.incremental_runs >= 1, timeout=5)  # its own work goes on
    finally:
        worker.stop()
    assert fake.base_dates == []
