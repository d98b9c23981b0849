"""How ``shipline serve`` runs uvicorn: timeouts, a connection limit, and TLS.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers
503 past ``limit_concurrency``, but it waits for a request's headers for ever: a
client sending them a byte at a time holds its connection. ``GuardedHttpProtocol``
closes a connection whose next request's headers have not all arrived within
``header_timeout`` seconds of the connection opening or of the previous response.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from shipline.errors import ConfigError
from shipline.settings import Settings

DEFAULT_HEADER_TIMEOUT = 10.0


class GuardedHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with a deadline for each request's headers."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout = float(getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT))
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm()  # a request is being served: its body and answer take their time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        cycle = self.cycle
        return cycle is None or bool(cycle.response_complete)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _expire(self) -> None:
        self._header_deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` under ``settings`` (``options`` are uvicorn's)."""
    tls = tls_files(settings)
    config = uvicorn.Config(
        app,
        http=GuardedHttpProtocol,
        timeout_keep_alive=settings.api_keep_alive_seconds,
        limit_concurrency=settings.api_max_connections,
        forwarded_allow_ips=settings.api_forwarded_allow_ips,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        access_log=False,
        timeout_graceful_shutdown=30,
        **options,
    )
    config.header_timeout = settings.api_header_timeout_seconds  # type: ignore[attr-defined]
    return config


def tls_files(settings: Settings) -> tuple[str, str] | None:
    """The certificate and key files, both or neither (``ConfigError`` for one alone)."""
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError(
            "HTTPS needs both a certificate and its key: set tls_cert and tls_key"
            " (or --tls-cert and --tls-key)"
        )
    return settings.tls_cert, settings.tls_key
