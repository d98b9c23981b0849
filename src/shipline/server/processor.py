"""Event-driven processing inside ``shipline serve``.

One thread runs every timeline run of the server, so runs never overlap: an
incremental run once ``batch_size`` events are waiting or ``window`` seconds after
the first of them arrived; a failing run again with exponential backoff; and the
daily base run at 00:00 UTC. Ingest and runs share the backend's lock, which a
run holds for its transaction only, so neither waits on the other for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipline.pipeline import Pipeline
from shipline.server.worker import Worker
from shipline.timeline.runs import RunResult

log = logging.getLogger(__name__)


def next_midnight_utc(now: datetime) -> datetime:
    """The next 00:00 UTC strictly after ``now``."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


@dataclass
class ProcessorStats:
    """What the processor has done since it started."""

    runs: int = 0
    failures: int = 0
    base_runs: int = 0
    bases_left_to_leader: int = 0
    last_error: str | None = None
    last_run_at: float | None = None


class Processor(Worker):
    """Runs ``pipeline.incremental()`` after accepted events, and the nightly base.

    ``stop`` processes what is pending first (graceful shutdown).
    """

    thread_name = "shipline-processor"

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        batch_size: int,
        window_seconds: float,
        max_backoff_seconds: float = 5.0,
        nightly_base: bool = True,
        on_run: Callable[[RunResult], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pipeline = pipeline
        self.batch_size = batch_size
        self.window = window_seconds
        self.max_backoff = max_backoff_seconds
        self.nightly_base = nightly_base
        self.on_run = on_run
        self.on_failure = on_failure
        self.clock = clock
        self.stats = ProcessorStats()
        super().__init__()
        self._pending = 0
        self._first_pending_at: float | None = None
        self._next_base = next_midnight_utc(clock())

    def start(self, pending_at_start: int = 0) -> None:
        """Start the thread; events left unprocessed by a previous process run first."""
        if pending_at_start:
            self.notify(pending_at_start)
        super().start()

    def notify(self, accepted: int) -> None:
        """Tell the processor that ``accepted`` new events were stored."""
        if accepted <= 0:
            return
        with self._cond:
            first = self._pending == 0
            if first:
                self._first_pending_at = time.monotonic()
            self._pending += accepted
            if first or self._pending >= self.batch_size:
                # The first event starts the window; a full batch ends it.
                self._cond.notify()

    @property
    def pending(self) -> int:
        """Events accepted but not yet handed to a run."""
        with self._cond:
            return self._pending

    def run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._due() and not self._stopping:
                    self._cond.wait(self._wait_seconds())
                stopping = self._stopping
                taken = self._pending
                self._pending = 0
                self._first_pending_at = None
            if self._base_due():
                self._run_base()
            if taken or stopping:
                ok = self._run_incremental()
                if ok:
                    backoff = 0.0
                else:
                    backoff = min(self.max_backoff, max(0.05, backoff * 2))
                    with self._cond:
                        # Give the events back; wait before trying again.
                        if self._pending == 0:
                            self._first_pending_at = time.monotonic()
                        self._pending += max(taken, 1)
                        if not self._stopping:
                            self._cond.wait(backoff)
                    if stopping and self.stats.failures > 5:
                        log.error("giving up on pending events at shutdown")
                        return
                    continue
            if stopping:
                return

    def _due(self) -> bool:
        if self._base_due():
            return True
        if self._pending == 0:
            return False
        if self._pending >= self.batch_size:
            return True
        started = self._first_pending_at or time.monotonic()
        return time.monotonic() - started >= self.window

    def _wait_seconds(self) -> float:
        until_base = (self._next_base - self.clock()).total_seconds()
        if self._pending and self._first_pending_at is not None:
            left = self.window - (time.monotonic() - self._first_pending_at)
            return max(0.001, min(left, until_base))
        return max(0.001, min(60.0, until_base))

    def _base_due(self) -> bool:
        return self.nightly_base and self.clock() >= self._next_base

    def _run_base(self) -> None:
        as_of = self._next_base.date()
        self._next_base = next_midnight_utc(self.clock())
        try:
            if not self.pipeline.leads():
                log.info("base run for %s left to the leading worker", as_of)
                self.stats.bases_left_to_leader += 1
                return
            result = self.pipeline.base(as_of=as_of)
            removed = self.pipeline.apply_retention()
            if removed.shipments:
                log.info(
                    "retention removed %d shipments past %s", removed.shipments, removed.cutoff
                )
        except Exception as error:
            log.exception("base run for %s failed", as_of)
            self._failed(error)
            return
        self.stats.base_runs += 1
        if self.on_run is not None:
            self.on_run(result)

    def _run_incremental(self) -> bool:
        try:
            result = self.pipeline.incremental()
        except Exception as error:
            log.exception("incremental run failed; retrying with backoff")
            self._failed(error)
            return False
        self.stats.runs += 1
        self.stats.last_run_at = time.time()
        if self.on_run is not None:
            self.on_run(result)
        return True

    def _failed(self, error: BaseException) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)
        if self.on_failure is not None:
            self.on_failure(error)
