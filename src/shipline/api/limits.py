"""Limits that hold before any route runs: the body's size, and the request rate.

Both are pure ASGI: they count what arrives and refuse without parsing anything.
A refusal is sent only once the client has finished sending (what it sends is read
and thrown away, up to ``DRAIN_BYTES`` and ``DRAIN_SECONDS``): a client that writes
its whole body before reading, as ``urllib`` does, would otherwise have its
connection reset and never see the answer.
"""

from __future__ import annotations

import json
import math
import threading
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_BYTES = 256 * 1024 * 1024
"""The most of a refused body read and discarded so that its client reads the answer."""
DRAIN_SECONDS = 30.0
"""How long a refused body is read for, at most; then the connection is closed."""


class BodyTooLarge(Exception):
    """The body passed the limit while a route was reading it."""


class BodyTooSlow(BodyTooLarge):
    """The body did not arrive within its time (a client trickling it holds a task)."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def error_body(scope: Scope, status: int, code: str, message: str) -> tuple[bytes, str]:
    """The JSON error of the API, or of the AWS JSON protocol for its requests."""
    if _header(scope, b"x-amz-target") is not None:
        aws_type = {413: "RequestEntityTooLargeException", 429: "ThrottlingException"}
        payload = {"__type": aws_type.get(status, "AccessDeniedException"), "message": message}
        return json.dumps(payload).encode(), "application/x-amz-json-1.1"
    return json.dumps({"error": {"code": code, "message": message}}).encode(), "application/json"


async def drain(scope: Scope, receive: Receive, limit: int = DRAIN_BYTES) -> bool:
    """Read and discard the rest of the request body; whether it all arrived.

    A client waiting for ``100 Continue`` has sent nothing and will send nothing,
    so it is not asked for the body.
    """
    if (_header(scope, b"expect") or "").lower() == "100-continue":
        return True
    received = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while received <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return False
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
    return False


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    drained: bool = False,
) -> None:
    """Answer ``status`` without running the app, after the client finished sending.

    The connection is closed afterwards: what is left of a refused request is not
    worth reading on the next one.
    """
    if not drained:
        await drain(scope, receive)
    body, media_type = error_body(scope, status, code, message)
    raw_headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: no request body passes ``limit`` bytes, on any route, nor
    takes longer than ``seconds`` to arrive.

    A declared ``Content-Length`` over the limit is refused before the app runs; a
    chunked body is counted as it streams, and the route reading it stops at the
    chunk that passes the limit (the app's own answer is replaced by the 413). A
    body still arriving after ``seconds`` is answered 408, and the connection closed.
    """

    def __init__(self, app: ASGIApp, limit: int, seconds: float = 60.0) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await refuse(
                scope,
                receive,
                send,
                413,
                "body_too_large",
                f"body: {int(declared)} bytes; the limit is {self.limit}",
            )
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        over: BodyTooLarge | None = None
        started = False
        deadline = time.monotonic() + self.seconds

        complete = False

        async def counting_receive() -> Message:
            nonlocal received, over, complete
            if complete:  # after the body: a route waiting for the client to go away
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
            if message is None:
                over = BodyTooSlow()
                raise over
            complete = not message.get("more_body", False)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = BodyTooLarge()
                    raise over
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over is not None:
                return  # the app's answer to a body it could not finish reading
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if over is None:
                raise
        if isinstance(over, BodyTooSlow) and not started:
            message = f"body: not received within {self.seconds:g} s; send it faster"
            await refuse(scope, receive, send, 408, "body_too_slow", message, drained=True)
        elif over is not None and not started:
            await refuse(
                scope,
                receive,
                send,
                413,
                "body_too_large",
                f"body: over the limit of {self.limit} bytes",
            )


class TokenBuckets:
    """Requests per second allowed per name (a key id, an address), with a burst.

    Each name has a bucket of ``rate * burst_seconds`` tokens, refilled at ``rate``
    per second; a request takes one. In memory and per process: several workers
    each allow the rate. Full buckets are forgotten when there are too many names.
    """

    MAX_NAMES = 100_000

    def __init__(self, rate: float, burst_seconds: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_seconds)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether there is a limit at all (a rate of 0 is none)."""
        return self.rate > 0

    def take(self, name: str) -> float:
        """Take a token for ``name``: 0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(name, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[name] = (tokens, now)
                return (1 - tokens) / self.rate
            if len(self._buckets) >= self.MAX_NAMES:
                self._forget_full(now)
            self._buckets[name] = (tokens - 1, now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        full = [n for n, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= 1]
        for name in full:
            del self._buckets[name]
        if len(self._buckets) >= self.MAX_NAMES:
            self._buckets.clear()


def retry_after(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header of a 429: whole seconds, at least one."""
    return {"retry-after": str(max(1, math.ceil(seconds)))}
