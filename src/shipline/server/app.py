"""``create_app``: the server process put together.

Endpoints (OpenAPI at ``/docs``):

* ``POST /v1/events``: a JSON object, a JSON array or NDJSON; per-record outcomes.
* ``POST /v1/put-events``: an EventBridge PutEvents body.
* ``POST /`` with ``X-Amz-Target: AWSEvents.PutEvents``: the AWS JSON protocol,
  signed with SigV4, so an unchanged boto3 ``events`` client can send.
* ``GET /v1/shipments/{id}`` and ``/v1/shipments/{id}/timeline``, ``GET /v1/status``.
* ``/v1/dead-letters``: list, show, redrive and purge (admin).
* ``GET /healthz`` (open) and ``GET /metrics`` (Prometheus).
* ``/`` and ``/dashboard/api/...``: the dashboard.

Limits: ``api_max_request_bytes`` per body on every route (413, before any route
runs), ``max_batch_records`` per request (422), and requests per second per key
and per client address (429 with ``Retry-After``). Clients authenticate with
``Authorization: Bearer KEY``, checked before a body is read. Every request to a
data route leaves a row in ``audit_log``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shipline.api import admin, dead_letters, events, feeds, kpis, local, ops, shipments
from shipline.api.audit import Audit
from shipline.api.auth import ApiError, error_response, status_for
from shipline.api.gate import Gate
from shipline.api.headers import SecurityHeaders
from shipline.api.keys import KeyCache
from shipline.api.limits import BodyLimit, TokenBuckets
from shipline.api.metrics import Metrics
from shipline.api.middleware import LastResort, RequestTiming
from shipline.api.state import Services
from shipline.dashboard.routes import router as dashboard_router
from shipline.errors import ShiplineError
from shipline.pipeline import Pipeline
from shipline.server.audit_writer import AuditWriter
from shipline.server.batcher import IngestBatcher
from shipline.server.monitor_loop import MonitorLoop
from shipline.server.processor import Processor
from shipline.settings import Settings

log = logging.getLogger(__name__)

GROUP_RECORDS = 20_000
"""Records one group commit may hold (at least one request's worth)."""

ROUTERS = (
    events.router,
    feeds.router,
    shipments.router,
    kpis.router,
    ops.router,
    dead_letters.router,
    admin.router,
    local.router,
    dashboard_router,
)


def create_app(
    pipeline: Pipeline, settings: Settings | None = None, *, processing: bool = True
) -> FastAPI:
    """The server over ``pipeline``; with ``processing`` it runs the event-driven
    processor (and the nightly base) and the monitor."""
    settings = settings or pipeline.settings
    metrics = Metrics(pipeline)
    processor = Processor(
        pipeline,
        batch_size=settings.incremental_batch_size,
        window_seconds=settings.incremental_batch_window_seconds,
        on_run=metrics.observe_run,
        on_failure=lambda _error: metrics.runs.labels("incremental", "failed").inc(),
    )
    batcher = IngestBatcher(
        pipeline,
        max_records=max(settings.max_batch_records, GROUP_RECORDS),
        on_outcomes=lambda outcomes: processor.notify(
            sum(1 for outcome in outcomes if outcome.outcome == "accepted")
        ),
    )
    monitor = MonitorLoop(pipeline, settings.monitor_interval_seconds)
    audit = AuditWriter(pipeline)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Bound the threads (and so, on PostgreSQL, the connections) requests use.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        batcher.start()
        audit.start()
        if processing:
            pending = await run_in_threadpool(lambda: pipeline.status().pending_events)
            processor.start(pending_at_start=pending)
            await run_in_threadpool(monitor.start)
        try:
            yield
        finally:
            if processing:
                await run_in_threadpool(monitor.stop)
            # uvicorn has finished the requests in flight: write what is queued, then
            # process what is pending.
            await run_in_threadpool(batcher.stop)
            await run_in_threadpool(audit.stop)
            if processing:
                await run_in_threadpool(processor.stop)

    app = FastAPI(
        title="shipline",
        version="0.1.0",
        summary="Shipment events in; exact, fresh per-shipment timelines out.",
        lifespan=lifespan,
        docs_url=None,  # served by ops.docs, with a policy for its inline script
        redoc_url=None,
    )
    keys = KeyCache(pipeline)
    app.state.services = Services(
        pipeline=pipeline,
        settings=settings,
        keys=keys,
        metrics=metrics,
        ingest_queue=batcher,
        processor=processor,
        processing=processing,
    )
    app.add_middleware(RequestTiming, metrics=metrics)
    app.add_middleware(LastResort)
    app.add_middleware(
        BodyLimit, limit=settings.api_max_request_bytes, seconds=settings.api_body_timeout_seconds
    )
    # Outermost last: headers on every answer, an audit row for every data request
    # (refusals too), the rate limits and the key, then the body limit.
    app.add_middleware(
        Gate,
        keys=keys,
        per_address=TokenBuckets(
            settings.api_rate_limit_per_address, settings.api_rate_limit_burst_seconds
        ),
        per_key=TokenBuckets(
            settings.api_rate_limit_per_key, settings.api_rate_limit_burst_seconds
        ),
    )
    app.add_middleware(Audit, sink=audit)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(ShiplineError, _shipline_error)  # type: ignore[arg-type]
    for router in ROUTERS:
        app.include_router(router)
    app.mount(ops.DOCS_ASSETS, ops.docs_assets(), name="docs-assets")
    return app


async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, error.code, error.message)


async def _shipline_error(_request: Request, error: ShiplineError) -> JSONResponse:
    status = status_for(error)
    if status >= 500:
        log.error("request failed: %s", error)
    return error_response(status, type(error).__name__, str(error))
