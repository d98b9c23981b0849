"""Group commit for the API: concurrent requests share one ingest transaction.

An ingest call has a fixed cost (validation, the transaction) that dwarfs the
per-event cost, so one writer thread takes every request waiting (up to
``max_records`` records), ingests each source's requests together, and hands each
request its own records' outcomes. While it writes, the next group gathers: the
busier the API, the bigger the groups, with no added delay when it is idle. The
outcomes are those of ingesting the requests one after another, in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from shipline.api.ingest import Outcome
from shipline.api.ingest import outcomes as outcomes_of
from shipline.pipeline import Pipeline
from shipline.server.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class _Request:
    raw: pa.Table
    source: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Outcome]]


@dataclass
class BatcherStats:
    """Groups written and the requests and records in them."""

    groups: int = 0
    requests: int = 0
    records: int = 0
    largest: int = field(default=0)


class IngestBatcher(Worker):
    """One writer thread; requests await their outcomes. ``stop`` writes what is
    queued first."""

    thread_name = "shipline-ingest"

    def __init__(
        self,
        pipeline: Pipeline,
        max_records: int,
        on_outcomes: Callable[[list[Outcome]], None] | None = None,
    ) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.max_records = max_records
        self.on_outcomes = on_outcomes
        self.stats = BatcherStats()
        self._queue: list[_Request] = []

    async def ingest(self, raw: pa.Table, source: str) -> list[Outcome]:
        """Ingest ``raw`` with whatever else is waiting; this request's outcomes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
            self._queue.append(_Request(raw, source, loop, future))
            self._cond.notify()
        return await future

    def _take(self) -> list[_Request] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            taken: list[_Request] = []
            rows = 0
            while self._queue and (
                not taken or rows + self._queue[0].raw.num_rows <= self.max_records
            ):
                request = self._queue.pop(0)
                rows += request.raw.num_rows
                taken.append(request)
            return taken

    def run(self) -> None:
        while (taken := self._take()) is not None:
            by_source: dict[str, list[_Request]] = {}
            for request in taken:
                by_source.setdefault(request.source, []).append(request)
            for source, requests in by_source.items():
                self._write(source, requests)

    def _write(self, source: str, requests: list[_Request]) -> None:
        try:
            combined = pa.concat_tables(
                [request.raw for request in requests], promote_options="default"
            )
            outcomes = outcomes_of(self.pipeline.ingest_table(combined, source))
        except BaseException as error:
            if len(requests) > 1 and not getattr(error, "transient", False):
                # One request's failure must not cost the others theirs: write each
                # alone, so only the request that fails again hears of it.
                log.warning("group commit failed (%s); writing its requests one by one", error)
                for request in requests:
                    self._write(source, [request])
                return
            for request in requests:
                request.loop.call_soon_threadsafe(_fail, request.future, error)
            return
        self.stats.groups += 1
        self.stats.requests += len(requests)
        self.stats.records += len(outcomes)
        self.stats.largest = max(self.stats.largest, len(outcomes))
        if self.on_outcomes is not None:
            try:
                self.on_outcomes(outcomes)
            except Exception:
                log.exception("counting outcomes failed")
        offset = 0
        for request in requests:
            n = request.raw.num_rows
            mine = [replace(o, index=o.index - offset) for o in outcomes[offset : offset + n]]
            offset += n
            request.loop.call_soon_threadsafe(_resolve, request.future, mine)


def _resolve(future: asyncio.Future[list[Outcome]], value: list[Outcome]) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
