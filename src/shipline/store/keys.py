"""API keys: create, list, revoke and verify, with scopes ingest, read and admin.

A key is shown once, when it is created. The database keeps its sha256 (for bearer
tokens) and a copy wrapped with a pad derived from a keyring secret kept outside
the database (for AWS SigV4, whose signatures can only be recomputed from the key
itself). ``admin`` implies ``read`` and ``ingest``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipline.errors import NotFoundError, ValidationError
from shipline.store import Backend

SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "shpl_"


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the key itself."""

    key_id: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    description: str | None = None

    @property
    def active(self) -> bool:
        """Whether the key may still be used."""
        return self.revoked_at is None

    def allows(self, needed: str) -> bool:
        """Whether this key's scope covers ``needed`` (admin covers everything)."""
        return self.active and (self.scope == needed or self.scope == "admin")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with ISO-8601 times."""
        return {
            "id": self.key_id,
            "scope": self.scope,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "description": self.description,
            "active": self.active,
        }


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: the only time ``key`` is known."""

    key_id: str
    key: str
    scope: str


def hash_key(key: str) -> str:
    """The stored form of a key: sha256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Keyring:
    """The secret that wraps keys for SigV4, in a file only its owner can read."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_database(cls, database: str, keyring: str | None = None) -> Keyring:
        """The keyring a settings' database uses: ``<database>.keyring`` unless set."""
        if keyring:
            return cls(Path(keyring))
        if database == ":memory:":
            return cls(None)
        if "://" in database:
            # A server database has no folder of ours: keep the keyring in the
            # working directory unless ``api_keyring`` says where.
            return cls(Path("shipline.keyring"))
        return cls(Path(database + ".keyring"))

    def secret(self, create: bool) -> bytes | None:
        """The secret; created (mode 0600) when ``create`` and missing."""
        with self._lock:
            if self._secret is not None:
                return self._secret
            if self.path is None:
                self._secret = secrets.token_bytes(32) if create else None
                return self._secret
            if self.path.exists():
                self._secret = bytes.fromhex(self.path.read_text().strip())
            elif create:
                value = secrets.token_bytes(32)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(value.hex())
                self._secret = value
            return self._secret


def _pad(secret: bytes, key_id: str, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        message = f"sigv4-wrap:{key_id}:{counter}".encode()
        blocks.append(hmac.new(secret, message, hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def _wrap(secret: bytes, key_id: str, key: str) -> str:
    data = key.encode("utf-8")
    return bytes(a ^ b for a, b in zip(data, _pad(secret, key_id, len(data)), strict=True)).hex()


def _unwrap(secret: bytes, key_id: str, wrapped: str) -> str:
    data = bytes.fromhex(wrapped)
    plain = bytes(a ^ b for a, b in zip(data, _pad(secret, key_id, len(data)), strict=True))
    return plain.decode("utf-8", errors="replace")  # a wrong keyring fails the hash check


def create_key(
    backend: Backend, keyring: Keyring, scope: str, description: str | None = None
) -> NewKey:
    """Create a key of ``scope``; the returned ``key`` is never stored or shown again."""
    if scope not in SCOPES:
        raise ValidationError(f"scope: {scope!r}; use one of {', '.join(SCOPES)}")
    key_id = "SHPL" + secrets.token_hex(8).upper()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = keyring.secret(create=True)
    wrapped = None if secret is None else _wrap(secret, key_id, key)
    backend.execute(
        "INSERT INTO api_keys (key_id, key_hash, scope, sigv4_wrapped, description, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [key_id, hash_key(key), scope, wrapped, description, datetime.now(UTC)],
    )
    return NewKey(key_id=key_id, key=key, scope=scope)


_COLUMNS = "key_id, scope, created_at, revoked_at, description"


def _row(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        key_id=row[0], scope=row[1], created_at=row[2], revoked_at=row[3], description=row[4]
    )


def list_keys(backend: Backend, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first (without the keys themselves)."""
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = backend.fetchall(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, key_id")
    return [_row(row) for row in rows]


def revoke_key(backend: Backend, key_id: str) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first time."""
    with backend.transaction():
        backend.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            [datetime.now(UTC), key_id],
        )
        row = backend.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", [key_id])
    if row is None:
        raise NotFoundError(f"API key {key_id!r} does not exist; see `shipline keys list`")
    return _row(row)


def verify_key(backend: Backend, key: str) -> ApiKey | None:
    """The active key ``key`` is, or None."""
    row = backend.fetchone(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        [hash_key(key)],
    )
    return None if row is None else _row(row)


def sigv4_secret(backend: Backend, keyring: Keyring, key_id: str) -> tuple[ApiKey, str] | None:
    """An active key and its secret, for recomputing a SigV4 signature; None if unknown."""
    row = backend.fetchone(
        f"SELECT {_COLUMNS}, sigv4_wrapped, key_hash FROM api_keys"
        " WHERE key_id = ? AND revoked_at IS NULL",
        [key_id],
    )
    if row is None or row[5] is None:
        return None
    secret = keyring.secret(create=False)
    if secret is None:
        return None
    key = _unwrap(secret, key_id, str(row[5]))
    if not hmac.compare_digest(hash_key(key), str(row[6])):
        return None  # the keyring does not belong to this database
    return _row(row[:5]), key
