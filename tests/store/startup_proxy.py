"""A loopback proxy that lets ``redshift_connector`` talk to plain PostgreSQL.

The driver's startup message carries Redshift-only parameters
(``client_protocol_version``, ``driver_version``, ``os_version``, ...), and
PostgreSQL refuses a connection that names a setting it does not know. The proxy
rewrites that one message, keeping only the parameters PostgreSQL takes at
startup, and answers an SSL request with "no" (``N``). In the server's reply it
rewrites one ParameterStatus: ``server_version`` becomes Redshift's ``8.0.2``
(the driver cannot parse a packager's version such as ``15.20 (Debian ...)``, and
it decides from the version which commands report a row count, so it now counts
as it does on Redshift). After the server's first ReadyForQuery the bytes are
relayed both ways untouched. Authentication is whatever the server asks for.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from tests.engines import POSTGRES_URL

SSL_REQUEST = 80877103
PROTOCOL_3 = 196608
KEPT = {"user", "database", "options", "application_name", "client_encoding"}
"""The startup parameters passed on; every other one is dropped (and recorded)."""
SERVER_VERSION = b"8.0.2"
"""What Redshift reports as its ``server_version``."""


class StartupProxy:
    """Listens on 127.0.0.1 (``port``) and forwards every connection to ``upstream``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.dropped: set[str] = set()
        self.ssl_requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> StartupProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._listener.close()
        with self._guard:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # relay without delay
        with self._guard:
            self._sockets += [client, server]
        try:
            server.sendall(self._startup(client))
        except (OSError, ValueError):
            client.close()
            server.close()
            return
        threading.Thread(target=_reply, args=(server, client), daemon=True).start()
        _relay(client, server)

    def _startup(self, client: socket.socket) -> bytes:
        """Read the client's startup message (after any SSL request) and rewrite it."""
        while True:
            body = _read_message(client)
            code = struct.unpack("!i", body[:4])[0]
            if code != SSL_REQUEST:
                break
            self.ssl_requests += 1
            client.sendall(b"N")
        if code != PROTOCOL_3:
            return struct.pack("!i", len(body) + 4) + body  # e.g. a cancel request
        fields = body[4:].split(b"\0")
        kept = bytearray(body[:4])
        for name, value in zip(fields[0:-2:2], fields[1:-2:2], strict=True):
            if name.decode() in KEPT:
                kept += name + b"\0" + value + b"\0"
            else:
                self.dropped.add(name.decode())
        kept += b"\0"
        return struct.pack("!i", len(kept) + 4) + bytes(kept)


def _read_message(sock: socket.socket) -> bytes:
    """One untyped message (as the startup ones are): its body after the length."""
    (length,) = struct.unpack("!i", _read(sock, 4))
    return _read(sock, length - 4)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("connection closed during startup")
        data += chunk
    return data


def _reply(server: socket.socket, client: socket.socket) -> None:
    """Relay the server's side, rewriting ``server_version`` up to the first ReadyForQuery."""
    try:
        while True:
            kind = _read(server, 1)
            body = _read_message(server)
            if kind == b"S" and body.startswith(b"server_version\0"):
                body = b"server_version\0" + SERVER_VERSION + b"\0"
            client.sendall(kind + struct.pack("!i", len(body) + 4) + body)
            if kind in (b"Z", b"E"):
                break
    except (OSError, ValueError):
        pass
    _relay(server, client)


def _relay(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes from one socket to the other until either side closes."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def postgres_address() -> tuple[str, int]:
    """Where the test PostgreSQL listens."""
    parts = urlsplit(POSTGRES_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def redshift_connector_url(database: str, proxy: StartupProxy) -> str:
    """A test database's ``redshift://`` URL for redshift_connector, through ``proxy``.

    ``ssl=false``: the proxy answers an SSL request with "no", which the driver
    (SSL by default) takes as a refusal.
    """
    parts = urlsplit(database)
    return (
        f"redshift://{parts.username}@127.0.0.1:{proxy.port}{parts.path}"
        "?driver=redshift_connector&ssl=false"
    )


def schema_of(database: str) -> str:
    """The schema a ``tests.engines.fresh_database`` URL puts first on the search path."""
    (options,) = parse_qs(urlsplit(database).query)["options"]
    return options.removeprefix("-csearch_path=")
