"""The file beside a DuckDB database that says a server owns it, and how to reach it.

A DuckDB file has one owner: while ``shipline serve`` holds it, no other process may
open it. So the server writes ``<database>.server.json`` (mode 0600, its owner only)
with its address and a local credential, a random key valid for this server's
lifetime and known only to its memory, and removes the file when it stops. The CLI
reads the file and does its work through the server (``shipline.cli.remote``).

The file is written once the server listens and removed before it stops listening,
so a file whose server does not answer is stale (a server killed with -9): readers
ignore it and remove it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipline.store.keys import KEY_PREFIX, ApiKey

log = logging.getLogger(__name__)

SUFFIX = ".server.json"
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""A server bound to every address is reached on loopback."""


@dataclass(frozen=True)
class ServerFile:
    """How to reach the server that owns a database, and the key that admits its owner."""

    host: str
    port: int
    scheme: str
    token: str
    key_id: str
    pid: int
    tls_cert: str | None = None
    """The server's certificate, which the CLI pins (it is often self-signed)."""
    started_at: str = ""

    @property
    def url(self) -> str:
        """The server's base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def server_file_path(database: str) -> Path | None:
    """Where a server over ``database`` announces itself; None for a database that is
    not a local file (PostgreSQL, Redshift and in-memory ones are shared or private)."""
    if database == ":memory:" or "://" in database:
        return None
    return Path(database + SUFFIX)


def local_credential() -> tuple[str, ApiKey]:
    """A fresh key (shaped like every shipline key) and the admin key it is."""
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        key_id="SHPL" + secrets.token_hex(8).upper(),
        scope="admin",
        created_at=datetime.now(UTC),
        description="the local owner of this server (valid while it runs)",
    )
    return token, key


def write_server_file(path: Path, found: ServerFile) -> None:
    """Write ``found`` to ``path`` readable by its owner only, atomically."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.unlink(missing_ok=True)  # made new, never reused: its mode is ours
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(partial, flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(asdict(found), out)
    os.replace(partial, path)


def read_server_file(path: Path) -> ServerFile | None:
    """The server ``path`` announces, or None when there is none or its process is gone
    (then the stale file is removed)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        found = ServerFile(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        log.warning("ignoring %s: %s", path, error)
        return None
    if not _alive(found.pid):
        remove_stale(path, found)
        return None
    return found


def remove_stale(path: Path, found: ServerFile) -> None:
    """Remove ``path`` if it still announces ``found`` (not a newer server's file)."""
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        if current.get("token") == found.token:
            path.unlink()
    except (OSError, ValueError):
        pass


def remove_server_file(path: Path, token: str) -> None:
    """Remove this server's file (and only its own)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("token") == token:
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user has that pid: not ours, but alive
    return True
