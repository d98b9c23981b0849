"""The audit log's writer inside ``shipline serve``: rows queued by requests, written
in one transaction about every second on a thread of its own."""

from __future__ import annotations

import logging
from collections import deque

from shipline.errors import ShiplineError
from shipline.pipeline import Pipeline
from shipline.server.worker import Worker
from shipline.store.audit import AuditEntry

log = logging.getLogger(__name__)

MAX_QUEUED = 100_000
"""Rows held when the database does not keep up; past it the oldest are dropped (logged)."""


class AuditWriter(Worker):
    """Batches audit rows; ``stop`` writes what is still queued."""

    thread_name = "shipline-audit"
    stop_timeout = 10.0

    def __init__(self, pipeline: Pipeline, interval: float = 1.0) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.interval = interval
        self._queue: deque[AuditEntry] = deque()
        self.dropped = 0

    def add(self, entry: AuditEntry) -> None:
        """Queue a row (from the event loop; never waits for the database)."""
        with self._cond:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(entry)

    def flush(self) -> int:
        """Write every queued row now; how many were written."""
        with self._cond:
            batch = list(self._queue)
            self._queue.clear()
        if batch:
            try:
                self.pipeline.record_audit(batch)
            except ShiplineError as error:
                with self._cond:
                    self._queue.extendleft(reversed(batch))  # kept for the next try
                log.error("audit log not written (%d rows kept): %s", len(batch), error)
                return 0
        if self.dropped:
            log.error("audit log: %d rows dropped, the database did not keep up", self.dropped)
            self.dropped = 0
        return len(batch)

    def run(self) -> None:
        while not self._sleep(self.interval):
            self.flush()
        self.flush()
