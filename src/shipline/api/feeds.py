"""Industry formats over HTTP: ``/v1/feeds/{format}`` and providers' webhooks.

A feed is one document as its producer sends it (a DCSA page, an EPCIS document,
an X12 214 interchange, a tracker), answered per record like ``/v1/events``, with
what the importer skipped and what the records changed.

A webhook (``/v1/webhooks/{provider}``) is the same, authenticated the provider's
way instead of by an API key: its signature header with the secret of
``[sources.PROVIDER] webhook_secret``, or, for a provider that does not sign, that
secret as the ``token`` query parameter. Providers retry anything but a 2xx, so a
document whose records were refused is still a 200 (they are dead letters, and a
retry would not mend them); only a forged, oversized or unreadable request is not.
"""

from __future__ import annotations

import hmac
from collections import Counter
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shipline.api.auth import ApiError, IngestKey
from shipline.api.ingest import Outcome
from shipline.api.middleware import read_body
from shipline.api.state import Services, services
from shipline.errors import NotFoundError
from shipline.events.formats import Format, Imported, format_named
from shipline.events.shapes import records_to_raw

router = APIRouter(tags=["feeds"])


@router.post("/v1/feeds/{file_format}")
async def post_feed(file_format: str, request: Request, key: IngestKey) -> JSONResponse:
    """Ingest one document of an industry format (``dcsa``, ``epcis``, ``x12``, ...),
    unchanged; each record's outcome, and the source records skipped by reason."""
    found = services(request)
    feed = _format(file_format)
    body = await read_body(request, found.settings.api_max_request_bytes)
    return JSONResponse(await ingest_feed(found, feed, body, f"api:{key.key_id}"))


@router.post("/v1/webhooks/{provider}")
async def post_webhook(provider: str, request: Request) -> JSONResponse:
    """A provider's webhook as it sends it (EasyPost, AfterShip, Shippo, ...)."""
    found = services(request)
    feed = _format(provider)
    source = found.settings.sources.get(feed.name)
    secret = source.webhook_secret if source is not None else None
    if not secret:
        raise ApiError(
            404,
            "webhook_not_configured",
            f"no webhook for {feed.name}: set [sources.{feed.name}] webhook_secret",
        )
    if feed.signature is None:
        _check_token(request, secret)
    body = await read_body(request, found.settings.api_max_request_bytes)
    if feed.signature is not None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if not feed.signature(headers, body, secret):
            raise ApiError(
                401, "bad_signature", f"{feed.signature_header}: not {feed.name}'s signature"
            )
    return JSONResponse(await ingest_feed(found, feed, body, "webhook"))


def _format(name: str) -> Format:
    try:
        return format_named(name)
    except Exception as error:  # a ValidationError naming the formats shipline reads
        raise NotFoundError(str(error)) from None


def _check_token(request: Request, secret: str) -> None:
    token = request.query_params.get("token", "")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        raise ApiError(401, "unauthenticated", "token: not this webhook's secret")


async def ingest_feed(found: Services, feed: Format, body: bytes, source: str) -> dict[str, Any]:
    """Import ``body`` as ``feed``, ingest its records, and the answer to send."""

    def parse() -> tuple[Imported, pa.Table]:
        imported = feed.read(body, found.settings.formats.get(feed.name))
        limit = found.settings.max_batch_records
        if len(imported.records) > limit:
            raise ApiError(
                422,
                "too_many_records",
                f"{len(imported.records)} records; at most {limit} per request",
            )
        return imported, records_to_raw(imported.records)

    imported, raw = await run_in_threadpool(parse)
    outcomes = await found.ingest_queue.ingest(raw, f"{feed.name}:{source}") if raw.num_rows else []
    for outcome in outcomes:
        found.metrics.ingested.labels(outcome.outcome, "feeds").inc()
    return feed_answer(imported, outcomes)


def feed_answer(imported: Imported, outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts of a feed's records (as ``shipline ingest`` reports a file) and each
    record's outcome."""
    totals = Counter(outcome.outcome for outcome in outcomes)
    changes = Counter(outcome.change for outcome in outcomes if outcome.change)
    kept = [outcome.outcome != "rejected" for outcome in outcomes]
    return {
        "received": len(outcomes),
        "accepted": totals["accepted"],
        "duplicates": totals["duplicate"],
        "rejected": totals["rejected"],
        "revisions": changes["revision"],
        "retractions": changes["retraction"],
        "estimates": _items(imported.records, "estimates", kept),
        "references": _items(imported.records, "references", kept),
        "skipped": dict(imported.skipped),
        "records": [outcome.as_dict() for outcome in outcomes],
    }


def _items(records: list[Any], name: str, kept: list[bool]) -> int:
    """How many items of the list ``name`` the kept records carried."""
    return sum(
        len(record[name])
        for record, keep in zip(records, kept, strict=True)
        if keep and isinstance(record, dict) and isinstance(record.get(name), list)
    )
