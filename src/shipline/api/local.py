"""``/v1/local``: the server's pipeline, for the CLI of the user who runs the server.

A DuckDB file has one owner, so while ``shipline serve`` runs, ``shipline status``,
``ingest``, ``base`` and the rest do their work here (``shipline.cli.remote``).
``POST /v1/local/OPERATION`` calls the pipeline method of that name with the
arguments of the body and answers its result (both in ``api.wire``'s JSON), or the
error it raised, as every route does.

Only the local credential is admitted: the key the server wrote, for its owner
alone, into the server file beside the database (``server.discovery``). Any admin
key would not do, because some operations read files on the server's machine:
each path must be a file the server's user can read.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
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
from shipline.store.keys import ApiKey

router = APIRouter(prefix="/v1/local", tags=["local"], include_in_schema=False)

KEY_CHANGES = frozenset({"create_key", "revoke_key", "rotate_key"})


async def call(request: Request, operation: str, key: ApiKey) -> Response:
    """Call the pipeline's ``operation`` with the body's ``args`` and ``kwargs``."""
    found = services(request)
    if not found.keys.is_local(key):
        raise ApiError(403, "forbidden", "/v1/local is for the server's own user only")
    body = wire.loads(await request.body())
    if not isinstance(body, dict):
        raise ValidationError('the body is {"args": [...], "kwargs": {...}}')
    args, kwargs = list(body.get("args", [])), dict(body.get("kwargs", {}))
    for value in (*args, *kwargs.values()):
        _check_paths(value)
    if operation == "load_files":
        _check_paths([Path(where) for where in args[0] if "://" not in where])
    method: Callable[..., Any] = getattr(found.pipeline, operation)
    result = await run_in_threadpool(method, *args, **kwargs)
    _after(found, operation, result)
    return Response(wire.dumps(result), media_type="application/json")


def _route(operation: str) -> Callable[[Request, ApiKey], Awaitable[Response]]:
    async def route(request: Request, key: AdminKey) -> Response:
        return await call(request, operation, key)

    route.__doc__ = f"The server's ``Pipeline.{operation}``."
    return route


# One path per operation, so that the audit log names each.
for _operation in sorted(wire.OPERATIONS):
    router.add_api_route(f"/{_operation}", _route(_operation), methods=["POST"])


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
