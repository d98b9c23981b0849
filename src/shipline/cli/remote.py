"""The pipeline of a running ``shipline serve``, for the CLI beside it.

A DuckDB file has one owner. While a server holds it, it announces itself in a
file beside the database (``server.discovery``); ``open_pipeline`` finds that file
and hands each command a ``RemotePipeline`` instead of a ``Pipeline``. It answers
the methods the commands call with the server's own pipeline, through
``/v1/local`` and the local credential, and returns the same objects (``api.wire``),
so every command prints what it prints alone and exits with the same code.

Files are read by the server (the same user, on the same machine), so paths are
sent absolute. A command that needs more than the pipeline's methods (the
database itself, a watch loop) says it cannot run beside the server.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from shipline import errors
from shipline.api import wire
from shipline.cli.exits import USAGE
from shipline.errors import BackendError, ConfigError, ShiplineError
from shipline.ingest.service import IngestResult
from shipline.server.discovery import ServerFile, read_server_file, remove_stale, server_file_path
from shipline.settings import Settings

PROBE_SECONDS = 2.0


class BesideServerError(ConfigError):
    """A command that needs the database file itself, while ``shipline serve`` owns it.

    It exits as a usage error does: the command line asks for what cannot be done now.
    """

    exit_code = USAGE


class RemotePipeline:
    """The methods of ``Pipeline`` the CLI calls, answered by the server that owns the
    database."""

    def __init__(self, settings: Settings, found: ServerFile, client: httpx.Client) -> None:
        self.settings = settings
        self.server = found
        self._client = client

    def __enter__(self) -> RemotePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the server keeps the database)."""
        self._client.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in wire.OPERATIONS:
            raise BesideServerError(
                f"this command needs the database itself ({name}), and `shipline serve`"
                f" (pid {self.server.pid}, {self.server.url}) owns"
                f" {self.settings.database}; stop the server to run it, or use its API"
            )
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """The server's pipeline's ``operation`` with these arguments; its error, raised
        here as the same kind."""
        try:
            response = self._client.post(
                f"/v1/local/{operation}",
                content=wire.dumps({"args": list(args), "kwargs": kwargs}),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TransportError as error:
            raise BackendError(
                f"the server at {self.server.url} (pid {self.server.pid}) did not answer"
                f" {operation}: {error}; is it still running?"
            ) from None
        if response.status_code != 200:
            raise _error_of(response, self.server)
        return wire.loads(response.content)

    def ingest_files(
        self,
        paths: Sequence[Path],
        on_file: Callable[[Path, IngestResult], None] | None = None,
        file_format: str | None = None,
    ) -> IngestResult:
        """``Pipeline.ingest_files``, one file a request (each is one transaction there
        too), so that progress shows as it goes."""
        total = IngestResult(source="files", received=0, accepted=0, duplicates=0, rejected=0)
        for path in paths:
            result: IngestResult = self.call(
                "ingest_files", [path.resolve()], file_format=file_format
            )
            total = total.merge(result)
            if on_file is not None:
                on_file(path, result)
        return total

    def load_files(
        self,
        locations: Sequence[str],
        on_file: Callable[[dict[str, Any]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """``Pipeline.load_files``; each outcome is shown once the server has loaded all."""
        absolute = [where if "://" in where else str(Path(where).resolve()) for where in locations]
        outcomes: list[dict[str, Any]] = self.call("load_files", absolute)
        for outcome in outcomes:
            if on_file is not None:
                on_file(outcome)
        return outcomes

    def load_reference(self, table: str, path: Path) -> int:
        """``Pipeline.load_reference`` of the file at its absolute path."""
        rows: int = self.call("load_reference", table, path.resolve())
        return rows


ERROR_KINDS: dict[str, type[ShiplineError]] = {
    name: kind
    for name, kind in vars(errors).items()
    if isinstance(kind, type) and issubclass(kind, ShiplineError)
}


def _error_of(response: httpx.Response, found: ServerFile) -> ShiplineError:
    """The error the server answered, as the kind its pipeline raised."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "", response.text[:500]
    kind = ERROR_KINDS.get(code)
    if kind is not None:
        return kind(message)
    return BackendError(
        f"the server at {found.url} (pid {found.pid}) answered {response.status_code}: {message}"
    )


def serving(settings: Settings) -> ServerFile | None:
    """The running server that owns the settings' DuckDB file, if one answers (a stale
    server file, whose server is gone, is removed)."""
    path = server_file_path(settings.database)
    if path is None or not path.exists():
        return None
    found = read_server_file(path)
    if found is None:
        return None
    try:
        with _client(found, timeout=PROBE_SECONDS) as client:
            client.get("/healthz").raise_for_status()
    except httpx.ConnectError:
        remove_stale(path, found)
        return None
    except httpx.HTTPError:
        return found  # it is there, only slow or busy: the lock is still its
    return found


def remote_pipeline(settings: Settings, found: ServerFile) -> RemotePipeline:
    """A pipeline answered by the server ``found``."""
    return RemotePipeline(settings, found, _client(found, timeout=None))


def _client(found: ServerFile, timeout: float | None) -> httpx.Client:
    # Commands that log at INFO (``load``, ``serve``) would show each request.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A timeline run or an audit of every shipment takes what it takes: no read
    # timeout beyond the probe's. Proxies from the environment never apply to the
    # server beside us.
    return httpx.Client(
        base_url=found.url,
        headers={"Authorization": f"Bearer {found.token}"},
        timeout=httpx.Timeout(timeout, connect=PROBE_SECONDS),
        verify=_verify(found),
        trust_env=False,
    )


def _verify(found: ServerFile) -> ssl.SSLContext | bool:
    """Trust exactly the server's own certificate (often self-signed, rarely naming
    the loopback address)."""
    if found.scheme != "https":
        return False  # nothing to verify; and loading the system's CAs takes a while
    if found.tls_cert is None:
        return True
    context = ssl.create_default_context(cafile=found.tls_cert)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
