"""Ingest routes: ``/v1/events``, ``/v1/put-events`` and the AWS JSON protocol at ``/``.

Limits come before work: the key is checked before the body is read, the body is
refused (413) as soon as it passes ``api_max_request_bytes``, and a request of
more than ``max_batch_records`` records is refused (422) before any is stored.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from shipline.api import ingest as api_ingest
from shipline.api import sigv4
from shipline.api.auth import ApiError, IngestKey
from shipline.api.feeds import ingest_feed
from shipline.api.middleware import media_type, read_body
from shipline.api.state import Services, services
from shipline.errors import ValidationError
from shipline.events.formats import format_named
from shipline.events.json_records import loads_strict
from shipline.events.shapes import records_to_raw

router = APIRouter(tags=["ingest"])

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


def _count(found: Services, outcomes: list[api_ingest.Outcome], endpoint: str) -> dict[str, int]:
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for outcome in outcomes:
        totals[outcome.outcome] += 1
    for name, value in totals.items():
        if value:
            found.metrics.ingested.labels(name, endpoint).inc(value)
    return totals


def _too_many(count: int, limit: int, what: str) -> ApiError:
    return ApiError(422, "too_many_records", f"{count} {what}; at most {limit} per request")


INLINE_PARSE_BYTES = 16 * 1024
"""Bodies up to this size are parsed on the event loop (a few dozen events, well
under a millisecond); larger ones in a worker thread, so the loop keeps serving."""


@router.post("/v1/events")
async def post_events(request: Request, key: IngestKey) -> JSONResponse:
    """Ingest one JSON event, a JSON array of events, or NDJSON.

    HTTP 200 whenever the body parsed, with each record's outcome (accepted,
    duplicate, or rejected with its field errors and dead letter id).
    """
    found = services(request)
    if media_type(request) not in EVENT_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {media_type(request) or '(none)'!r}; send application/json"
            " or application/x-ndjson",
        )
    body = await read_body(request, found.settings.api_max_request_bytes)
    file_format = request.query_params.get("format")
    if file_format is not None:  # the same as /v1/feeds/{format}
        feed = format_named(file_format)
        return JSONResponse(await ingest_feed(found, feed, body, f"api:{key.key_id}"))

    def parse() -> pa.Table:
        records, line_numbers = api_ingest.parse_body(body)
        limit = found.settings.max_batch_records
        if len(records) > limit:
            raise _too_many(len(records), limit, "records")
        return records_to_raw(records, line_numbers)

    # A small body parses in less time than a hop to a worker thread and back takes.
    raw = parse() if len(body) <= INLINE_PARSE_BYTES else await run_in_threadpool(parse)
    outcomes = await found.ingest_queue.ingest(raw, f"api:{key.key_id}")
    totals = _count(found, outcomes, "events")
    return JSONResponse(
        {
            "received": len(outcomes),
            "accepted": totals["accepted"],
            "duplicates": totals["duplicate"],
            "rejected": totals["rejected"],
            "records": [outcome.as_dict() for outcome in outcomes],
        }
    )


def _route(found: Services, body: bytes) -> tuple[api_ingest.RoutedEntries, pa.Table]:
    try:
        payload = loads_strict(body.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError is one too
        raise ValidationError(f"body: not JSON ({error})") from error
    entries = payload.get("Entries") if isinstance(payload, dict) else None
    limit = found.settings.max_batch_records
    if isinstance(entries, list) and len(entries) > limit:
        raise _too_many(len(entries), limit, "entries")
    routed = api_ingest.route_entries(payload)
    return routed, records_to_raw(routed.records)


async def _put_events(found: Services, body: bytes) -> dict[str, Any]:
    routed, raw = await run_in_threadpool(_route, found, body)
    outcomes = await found.ingest_queue.ingest(raw, "put-events") if routed.records else []
    _count(found, outcomes, "put-events")
    results = routed.finish(outcomes)
    failed = sum(1 for result in results if result.error_code is not None)
    return {"FailedEntryCount": failed, "Entries": [r.as_dict() for r in results]}


@router.post("/v1/put-events")
async def post_put_events(request: Request, _key: IngestKey) -> JSONResponse:
    """An EventBridge PutEvents body; entries of Source ``shipment.service`` and a
    DetailType starting ``shipment.`` are ingested, others match no rule."""
    found = services(request)
    if media_type(request) not in ("application/json", AMZ_JSON):
        raise ApiError(415, "unsupported_media_type", "send application/json")
    body = await read_body(request, found.settings.api_max_request_bytes)
    return JSONResponse(await _put_events(found, body))


def _aws_error(status: int, aws_type: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"__type": aws_type, "message": message}, status_code=status, media_type=AMZ_JSON
    )


@router.post("/", include_in_schema=True)
async def aws_json(request: Request) -> Response:
    """The AWS JSON 1.1 protocol (``X-Amz-Target: AWSEvents.PutEvents``), SigV4-signed
    with an API key's id as access key id and the key as secret access key."""
    found = services(request)
    target = request.headers.get("x-amz-target", "")
    if target != "AWSEvents.PutEvents":
        return _aws_error(400, "UnknownOperationException", f"unknown operation {target!r}")
    try:
        key, body = await sigv4.verified_body(
            request, found.keys, found.settings.api_max_request_bytes, found.settings.sigv4_region
        )
    except sigv4.SigV4Error as error:
        return _aws_error(error.status, error.aws_type, error.message)
    if not key.allows("ingest"):
        return _aws_error(
            400, "AccessDeniedException", f"key scope {key.scope!r} cannot put events"
        )
    try:
        result = await _put_events(found, body)
    except ApiError as error:
        return _aws_error(400, "ValidationException", error.message)
    except ValidationError as error:
        return _aws_error(400, "ValidationException", str(error))
    return JSONResponse(result, media_type=AMZ_JSON)
