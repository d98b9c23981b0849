"""``/v1/local``: the server's pipeline, for the CLI of the user who runs the server.

A DuckDB file has one owner, so while ``shipline serve`` runs, ``shipline status``,
``ingest``, ``base`` and the rest do their work here (``shipline.cli.remote``).
``POST /v1/local/{operation}`` calls the pipeline method of that name with the
arguments of the body and answers its result (both in ``api.wire``'s JSON), or the
error it raised, as every route does.

Only the local credential is admitted: the key the server wrote, for its owner
alone, into the server file beside the database (``server.discovery``). Any admin
key would not do, because some operations read files on the server's machine:
each path must be a file the server's user can read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from shipline.api import wire
from shipline.api.auth import AdminKey, ApiError
from shipline.api.state import Services, services
from shipline.errors import ValidationError
from shipline.ingest.service import IngestResult

router = APIRouter(prefix="/v1/local", tags=["local"], include_in_schema=False)

OPERATIONS = frozenset(
    {
        "alert_states",
        "apply_retention",
        "base",
        "check_alerts",
        "create_key",
        "dead_letter",
        "dead_letters",
        "holds",
        "incremental",
        "ingest_feed",
        "ingest_files",
        "ingest_table",
        "list_keys",
        "load_files",
        "load_reference",
        "loads",
        "metrics",
        "purge_dead_letters",
        "quality",
        "record_metrics",
        "redrive",
        "references",
        "release_holds",
        "revoke_key",
        "rotate_key",
        "estimates",
        "status",
        "summary",
        "tables",
        "timeline",
        "verify",
    }
)
"""The pipeline methods the CLI calls, and nothing else of the pipeline."""

KEY_CHANGES = frozenset({"create_key", "revoke_key", "rotate_key"})


@router.post("/{operation}")
async def call(request: Request, operation: str, key: AdminKey) -> Response:
    """Call the pipeline's ``operation`` with the body's ``args`` and ``kwargs``."""
    found = services(request)
    if not found.keys.is_local(key):
        raise ApiError(403, "forbidden", "/v1/local is for the server's own user only")
    if operation not in OPERATIONS:
        raise ApiError(404, "not_found", f"no local operation {operation!r}")
    body = wire.loads(await request.body())
    args, kwargs = list(body.get("args", [])), dict(body.get("kwargs", {}))
    for value in (*args, *kwargs.values()):
        _check_paths(value)
    method: Callable[..., Any] = getattr(found.pipeline, operation)
    result = await run_in_threadpool(method, *args, **kwargs)
    _after(found, operation, result)
    return Response(wire.dumps(result), media_type="application/json")


def _check_paths(value: Any) -> None:
    """Refuse a path the server's user cannot read (or that is not absolute)."""
    if isinstance(value, list | tuple):
        for item in value:
            _check_paths(item)
    elif isinstance(value, Path):
        if not value.is_absolute():
            raise ValidationError(f"{value}: the server needs an absolute path")
        if not value.exists() or not os.access(value, os.R_OK):
            raise ValidationError(f"no such file, or not readable by the server: {value}")


def _after(found: Services, operation: str, result: Any) -> None:
    """What the server does after a change made here: new keys are seen at once, and
    new events start the event-driven processor's count."""
    if operation in KEY_CHANGES:
        found.keys.forget()
    if isinstance(result, IngestResult) and result.accepted:
        found.processor.notify(result.accepted)
