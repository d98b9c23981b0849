"""The ingestion service: FastAPI over the one ``Pipeline`` of the server process.

Endpoints (OpenAPI at ``/docs``):

* ``POST /v1/events``: a JSON object, a JSON array or NDJSON; per-record outcomes.
* ``POST /v1/put-events``: an EventBridge PutEvents body.
* ``POST /`` with ``X-Amz-Target: AWSEvents.PutEvents``: the AWS JSON protocol,
  signed with SigV4, so an unchanged boto3 ``events`` client can send.
* ``GET /v1/shipments/{id}`` and ``/v1/shipments/{id}/timeline``, ``GET /v1/status``.
* ``/v1/dead-letters``: list, show, redrive and purge (admin).
* ``GET /healthz`` (open) and ``GET /metrics`` (Prometheus).

Limits: ``api_max_request_bytes`` per body (413) and ``max_batch_records`` per
request (422). Clients authenticate with ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

import anyio.to_thread
import pyarrow as pa
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipline.api import ingest as api_ingest
from shipline.api import sigv4
from shipline.api.auth import (
    AdminKey,
    ApiError,
    IngestKey,
    ReadKey,
    error_response,
    status_for,
)
from shipline.api.batcher import IngestBatcher
from shipline.api.keys import KeyCache, Keyring
from shipline.api.metrics import Metrics
from shipline.api.monitoring import MonitorLoop
from shipline.api.processor import Processor
from shipline.errors import ShiplineError, ValidationError
from shipline.events.json_records import loads_strict
from shipline.events.shapes import records_to_raw
from shipline.ingest import dead_letters
from shipline.jsonable import jsonable
from shipline.monitor import MonitorCollector
from shipline.pipeline import Pipeline
from shipline.settings import Settings

log = logging.getLogger(__name__)

EVENT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    }
)
AMZ_JSON = "application/x-amz-json-1.1"
GROUP_RECORDS = 20_000
"""Records one group commit may hold (at least one request's worth)."""


class IdsBody(BaseModel):
    """Dead letters to act on."""

    ids: list[int] = Field(min_length=1)
    payload: str | None = Field(default=None, description="A fixed record for one id.")


class _Timing:
    """Pure ASGI middleware: latency histogram by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], path, str(status[0])).observe(
                time.perf_counter() - started
            )


class _LastResort:
    """Pure ASGI middleware: an error nobody handled still gets a response.

    Without it the server logs the traceback and drops the connection, so a client
    keeping it alive sees its next request reset. The error is logged here instead,
    and the client reads a 500 with a JSON body, on a connection that stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise
            response = error_response(
                500, "internal_error", "the server failed; it has been logged"
            )
            await response(scope, receive, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"body: {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body: over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def create_app(
    pipeline: Pipeline, settings: Settings | None = None, *, processing: bool = True
) -> FastAPI:
    """The API over ``pipeline``; with ``processing`` it runs the event-driven processor."""
    settings = settings or pipeline.settings
    metrics = Metrics()
    keys = KeyCache(pipeline.backend, Keyring.for_database(settings.database, settings.api_keyring))
    processor = Processor(
        pipeline,
        batch_size=settings.incremental_batch_size,
        window_seconds=settings.incremental_batch_window_seconds,
        on_run=metrics.observe_run,
        on_failure=lambda _error: metrics.runs.labels("incremental", "failed").inc(),
    )

    monitor = MonitorLoop(pipeline, settings.monitor_interval_seconds)
    metrics.registry.register(MonitorCollector(pipeline.latest_metrics, pipeline.alert_states))

    batcher = IngestBatcher(
        pipeline,
        max_records=max(settings.max_batch_records, GROUP_RECORDS),
        on_outcomes=lambda outcomes: processor.notify(
            sum(1 for outcome in outcomes if outcome.outcome == "accepted")
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Bound the threads (and so, on PostgreSQL, the connections) requests use.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        batcher.start()
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
            if processing:
                await run_in_threadpool(processor.stop)

    app = FastAPI(
        title="shipline",
        version="0.1.0",
        summary="Shipment events in; exact, fresh per-shipment timelines out.",
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    app.state.processor = processor
    app.state.keys = keys
    app.state.batcher = batcher
    app.add_middleware(_Timing, metrics=metrics)
    app.add_middleware(_LastResort)

    @app.exception_handler(ApiError)
    async def _apierror_response(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(ShiplineError)
    async def _shiplineerror_response(_request: Request, error: ShiplineError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.error("request failed: %s", error)
        return error_response(status, type(error).__name__, str(error))

    def count(outcomes: list[api_ingest.Outcome], endpoint: str) -> dict[str, int]:
        totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for outcome in outcomes:
            totals[outcome.outcome] += 1
        for name, value in totals.items():
            if value:
                metrics.ingested.labels(name, endpoint).inc(value)
        return totals

    @app.post("/v1/events", tags=["ingest"])
    async def post_events(request: Request, key: IngestKey) -> JSONResponse:
        """Ingest one JSON event, a JSON array of events, or NDJSON.

        HTTP 200 whenever the body parsed, with each record's outcome (accepted,
        duplicate, or rejected with its field errors and dead letter id).
        """
        if _media_type(request) not in EVENT_MEDIA_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"content type {_media_type(request) or '(none)'!r}; send application/json"
                " or application/x-ndjson",
            )
        body = await read_body(request, settings.api_max_request_bytes)

        def parse() -> pa.Table:
            records, line_numbers = api_ingest.parse_body(body)
            if len(records) > settings.max_batch_records:
                raise ApiError(
                    422,
                    "too_many_records",
                    f"{len(records)} records; at most {settings.max_batch_records} per request",
                )
            return records_to_raw(records, line_numbers)

        raw = await run_in_threadpool(parse)
        outcomes = await batcher.ingest(raw, f"api:{key.key_id}")
        totals = count(outcomes, "events")
        return JSONResponse(
            {
                "received": len(outcomes),
                "accepted": totals["accepted"],
                "duplicates": totals["duplicate"],
                "rejected": totals["rejected"],
                "records": [outcome.as_dict() for outcome in outcomes],
            }
        )

    def route(body: bytes) -> tuple[api_ingest.RoutedEntries, pa.Table]:
        try:
            payload = loads_strict(body.decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError is one too
            raise ValidationError(f"body: not JSON ({error})") from error
        entries = payload.get("Entries") if isinstance(payload, dict) else None
        if isinstance(entries, list) and len(entries) > settings.max_batch_records:
            raise ApiError(
                422,
                "too_many_records",
                f"{len(entries)} entries; at most {settings.max_batch_records} per request",
            )
        routed = api_ingest.route_entries(payload)
        return routed, records_to_raw(routed.records)

    async def put_events(body: bytes) -> dict[str, Any]:
        routed, raw = await run_in_threadpool(route, body)
        outcomes = await batcher.ingest(raw, "put-events") if routed.records else []
        count(outcomes, "put-events")
        results = routed.finish(outcomes)
        failed = sum(1 for result in results if result.error_code is not None)
        return {"FailedEntryCount": failed, "Entries": [r.as_dict() for r in results]}

    @app.post("/v1/put-events", tags=["ingest"])
    async def post_put_events(request: Request, _key: IngestKey) -> JSONResponse:
        """An EventBridge PutEvents body; entries of Source ``shipment.service`` and a
        DetailType starting ``shipment.`` are ingested, others match no rule."""
        if _media_type(request) not in ("application/json", AMZ_JSON):
            raise ApiError(415, "unsupported_media_type", "send application/json")
        body = await read_body(request, settings.api_max_request_bytes)
        return JSONResponse(await put_events(body))

    @app.post("/", tags=["ingest"], include_in_schema=True)
    async def aws_json(request: Request) -> Response:
        """The AWS JSON 1.1 protocol (``X-Amz-Target: AWSEvents.PutEvents``), SigV4-signed
        with an API key's id as access key id and the key as secret access key."""

        def aws_error(status: int, aws_type: str, message: str) -> JSONResponse:
            return JSONResponse(
                {"__type": aws_type, "message": message}, status_code=status, media_type=AMZ_JSON
            )

        target = request.headers.get("x-amz-target", "")
        if target != "AWSEvents.PutEvents":
            return aws_error(400, "UnknownOperationException", f"unknown operation {target!r}")
        try:
            body = await read_body(request, settings.api_max_request_bytes)
        except ApiError as error:
            return aws_error(413, "RequestEntityTooLargeException", error.message)
        signed = sigv4.SignedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=dict(request.headers),
            body=body,
        )
        try:
            key = await run_in_threadpool(sigv4.verify, signed, keys.sigv4)
        except sigv4.SigV4Error as error:
            return aws_error(error.status, error.aws_type, error.message)
        if not key.allows("ingest"):
            return aws_error(
                400, "AccessDeniedException", f"key scope {key.scope!r} cannot put events"
            )
        try:
            result = await put_events(body)
        except ApiError as error:
            return aws_error(400, "ValidationException", error.message)
        except ValidationError as error:
            return aws_error(400, "ValidationException", str(error))
        return JSONResponse(result, media_type=AMZ_JSON)

    @app.get("/v1/shipments/{shipment_id}/timeline", tags=["read"])
    def get_timeline(shipment_id: str, _key: ReadKey) -> Any:
        """The shipment's rows of the real-time view, in order."""
        return jsonable({"shipment_id": shipment_id, "timeline": pipeline.timeline(shipment_id)})

    @app.get("/v1/shipments/{shipment_id}", tags=["read"])
    def get_shipment(shipment_id: str, _key: ReadKey) -> Any:
        """The shipment's performance metrics (shipment_summary)."""
        return jsonable(pipeline.summary(shipment_id))

    @app.get("/v1/status", tags=["read"])
    def get_status(_key: ReadKey) -> Any:
        """Checkpoint, counts, lag, and the processor's own figures."""
        data = pipeline.status().as_dict()
        stats = processor.stats
        data["processor"] = {
            "running": processing,
            "waiting_events": processor.pending,
            "runs": stats.runs,
            "failures": stats.failures,
            "base_runs": stats.base_runs,
            "last_error": stats.last_error,
        }
        data["group_commits"] = asdict(batcher.stats)
        return jsonable(data)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no authentication)."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def get_metrics() -> Response:
        """Prometheus text format."""
        return Response(metrics.render(pipeline), media_type="text/plain; version=0.0.4")

    @app.get("/v1/dead-letters", tags=["dead letters"])
    def list_dead_letters(
        _key: AdminKey,
        state: Annotated[str, Query(pattern=f"^({'|'.join(dead_letters.STATES)}|all)$")] = "open",
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> Any:
        """The newest dead letters of a state (open by default)."""
        return jsonable(pipeline.dead_letters(None if state == "all" else state, limit))

    @app.get("/v1/dead-letters/{dead_letter_id}", tags=["dead letters"])
    def show_dead_letter(dead_letter_id: int, _key: AdminKey) -> Any:
        """One dead letter, whole."""
        return jsonable(pipeline.dead_letter(dead_letter_id))

    @app.post("/v1/dead-letters/redrive", tags=["dead letters"])
    def redrive(body: IdsBody, _key: AdminKey) -> Any:
        """Validate dead letters again and ingest them; ``payload`` replaces one's text."""
        result = pipeline.redrive(body.ids, body.payload)
        processor.notify(result.accepted)
        return {
            "received": result.received,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "errors": [{"index": e.index, "errors": e.errors} for e in result.errors],
        }

    @app.post("/v1/dead-letters/purge", tags=["dead letters"])
    def purge(body: IdsBody, _key: AdminKey) -> dict[str, int]:
        """Mark dead letters purged (kept for audit)."""
        return {"purged": pipeline.purge_dead_letters(body.ids)}

    from shipline.dashboard.routes import router as dashboard_router  # the page at /

    app.include_router(dashboard_router)
    return app
