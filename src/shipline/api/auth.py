"""Who may call what: bearer API keys, their scopes, and the HTTP shape of errors.

Every router (the API's, the dashboard's) depends on this module; it depends on
no router. ``require(scope)`` is a FastAPI dependency that answers 401 or 403
before any body is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from shipline.api.state import services
from shipline.errors import (
    ConfigError,
    NotFoundError,
    ShiplineError,
    TransientBackendError,
    ValidationError,
)
from shipline.store.keys import ApiKey, well_formed


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


HTTP_STATUS: tuple[tuple[type[ShiplineError], int], ...] = (
    (ValidationError, 400),
    (NotFoundError, 404),
    (TransientBackendError, 503),
    (ConfigError, 500),
)
"""The HTTP status of each kind of shipline error, most specific first; 500 otherwise."""


def status_for(error: ShiplineError) -> int:
    """The HTTP status that answers ``error``."""
    return next((status for kind, status in HTTP_STATUS if isinstance(error, kind)), 500)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The JSON body every error of the API has."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def require(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency: the request's bearer key, which must cover ``scope`` (401/403)."""

    async def check(request: Request) -> ApiKey:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <API key>")
        if not well_formed(token):
            raise ApiError(
                401, "unauthenticated", "not a shipline API key (shpl_ and 43 characters)"
            )
        keys = services(request).keys
        cached, key = keys.peek(token)
        if not cached:
            key = await keys.bearer(token)
        if key is None or not key.active:
            code, message = keys.refusal(token)
            raise ApiError(401, code, message)
        if not key.allows(scope):
            raise ApiError(
                403, "forbidden", f"this key has scope {key.scope!r}; {scope!r} is needed"
            )
        return key

    return check


IngestKey = Annotated[ApiKey, Depends(require("ingest"))]
ReadKey = Annotated[ApiKey, Depends(require("read"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
