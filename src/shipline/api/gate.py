"""The gate in front of every route: rate limits, and the key before any body.

FastAPI reads and parses a route's body before it resolves the route's
dependencies, so a route that declares a body model would parse it for anybody.
The gate answers 401 for the data routes (``/v1``, ``/dashboard/api``) before the
app runs when the request carries no bearer key that verifies, and 429 when a
client address or a key is over its rate. The routes still check the key's scope
(``api.auth.require``), from the cache the gate filled. The AWS JSON protocol at
``/`` and the providers' webhooks are verified by their routes (a signature over
the body): they have the per-address and body limits, not the per-key one, since
an unverified key id in a header must not spend that key's rate.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from shipline.api.keys import KeyCache
from shipline.api.limits import TokenBuckets, refuse, retry_after
from shipline.store.keys import ApiKey

DATA_PREFIXES = ("/v1/", "/dashboard/api/")
"""Paths that read or write data: a key is needed for each of them."""

SIGNED_BY_PROVIDER = ("/v1/webhooks/",)
"""Data paths a provider authenticates by its own signature (``api.feeds``), not a key."""


def client_address(scope: Scope) -> str:
    """The client's address (the proxy's ``X-Forwarded-For`` when uvicorn trusts it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def is_data_path(path: str) -> bool:
    """Whether ``path`` reads or writes data (and so needs a key and is audited)."""
    return path.startswith(DATA_PREFIXES)


def _authorization(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return ""


def bearer_token(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer``, or None."""
    kind, _, token = _authorization(scope).partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


class Gate:
    """Pure ASGI middleware: per-address and per-key rate limits, and the key first."""

    def __init__(
        self, app: ASGIApp, keys: KeyCache, per_address: TokenBuckets, per_key: TokenBuckets
    ) -> None:
        self.app = app
        self.keys = keys
        self.per_address = per_address
        self.per_key = per_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.per_address.take(client_address(scope))
        if wait:
            message = f"too many requests from {client_address(scope)}; retry later"
            await refuse(scope, receive, send, 429, "rate_limited", message, retry_after(wait))
            return
        if is_data_path(scope["path"]) and not scope["path"].startswith(SIGNED_BY_PROVIDER):
            key = await self._key(scope)
            if key is None:
                code, message = self._why(scope)
                await refuse(scope, receive, send, 401, code, message)
                return
            scope.setdefault("state", {})["api_key"] = key
            # Counted once verified, so that nobody can spend another key's rate.
            wait = self.per_key.take(key.key_id)
            if wait:
                message = f"key {key.key_id} is over its rate limit; retry later"
                await refuse(scope, receive, send, 429, "rate_limited", message, retry_after(wait))
                return
        await self.app(scope, receive, send)

    async def _key(self, scope: Scope) -> ApiKey | None:
        token = bearer_token(scope)
        if token is None:
            return None
        cached, key = self.keys.peek(token)
        if not cached:
            key = await run_in_threadpool(self.keys.verify, token)
        return key

    def _why(self, scope: Scope) -> tuple[str, str]:
        """Why the request's key is refused, ``(code, message)``: no key, a malformed,
        unknown, revoked or expired one (from the key cache's memory, no query)."""
        token = bearer_token(scope)
        if token is None:
            return "unauthenticated", "send Authorization: Bearer <API key>"
        return self.keys.refusal(token)
