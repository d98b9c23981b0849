"""Pure ASGI middleware: one audit row per request to a data route, after its answer.

Who is the key the gate verified (``anonymous`` when there was none), what is the
method and route template with the shipment or dead letter it names and the
counts its answer begins with (received, accepted, rejected, ...), and the outcome
is the status code, refusals (401, 413, 429) included. Rows go to a sink
that writes them in batches, so a request never waits for the audit log.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipline.api.gate import client_address, is_data_path
from shipline.store.audit import AuditEntry

SUBJECT_PARAMS = ("shipment_id", "dead_letter_id")
"""Path parameters that name what a request reads or changes."""

_COUNTS = re.compile(rb'"(received|accepted|duplicates|rejected|purged)":\s?(\d+)')
"""The counts an answer begins with (ingest, redrive, purge), read from its first bytes."""
COUNTS_PEEK = 256


class AuditSink(Protocol):
    """Where audit rows go (the server's batching writer)."""

    def add(self, entry: AuditEntry) -> None:
        """Queue ``entry`` to be written soon."""
        ...


def note(request_state: Any, subject: str | None = None, detail: str | None = None) -> None:
    """Let a route name what it acted on (ids from its body, counts) for its audit row."""
    if subject is not None:
        request_state.audit_subject = subject
    if detail is not None:
        request_state.audit_detail = detail


class Audit:
    """Records every request to ``/v1`` and ``/dashboard/api``."""

    def __init__(self, app: ASGIApp, sink: AuditSink) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_data_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        status = 500
        received = 0
        counts = ""

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def status_send(message: Message) -> None:
            nonlocal status, counts
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not counts:
                head = bytes(message.get("body", b""))[:COUNTS_PEEK]
                counts = " ".join(f"{k.decode()}={v.decode()}" for k, v in _COUNTS.findall(head))
            await send(message)

        try:
            await self.app(scope, counting_receive, status_send)
        finally:
            self.sink.add(_entry(scope, status, received, counts))


def _entry(scope: Scope, status: int, received: int, counts: str) -> AuditEntry:
    state = scope.get("state") or {}
    key = state.get("api_key")
    route = scope.get("route")
    params = scope.get("path_params") or {}
    subject = state.get("audit_subject") or next(
        (str(params[name]) for name in SUBJECT_PARAMS if name in params), None
    )
    details = [bytes(scope.get("query_string", b"")).decode("latin-1")]
    details += [state.get("audit_detail") or "", f"bytes={received}" if received else "", counts]
    return AuditEntry(
        at=datetime.now(UTC),
        actor=key.key_id if key is not None else "anonymous",
        client=client_address(scope),
        action=f"{scope['method']} {getattr(route, 'path', None) or scope['path']}",
        subject=subject,
        detail=" ".join(part for part in details if part) or None,
        status=status,
    )
