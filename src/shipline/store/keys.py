"""API keys: create, list, rotate, revoke and verify, with scopes ingest, read and admin.

A key is shown once, when it is created. The database keeps only its sha256 (a key
is 256 random bits, so a plain hash is enough to look it up and reveals nothing).
AWS SigV4 needs the key itself to recompute a signature, so a key is *derived*:
``HMAC-SHA256(server secret, key id)``. The server secret lives outside the data
folder (``key_secret_file``, by default ``~/.config/shipline/secret``, or the
``SHIPLINE_KEY_SECRET`` variable), so a copy of the database, or of the whole data
folder, yields no key. ``admin`` implies ``read`` and ``ingest``.

Keys made before derivation were random and kept a copy wrapped with a keyring file
beside the database; ``upgrade_legacy_keys`` rewraps those copies with the server
secret and deletes that keyring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipline.errors import ConfigError, NotFoundError, ValidationError
from shipline.store import Backend

log = logging.getLogger(__name__)

SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "shpl_"
KEY_PATTERN = re.compile(r"^shpl_[A-Za-z0-9_-]{43}$")
"""Every key shipline issues: the prefix and 43 base64url characters (256 bits)."""
KEY_ID_PATTERN = re.compile(r"^SHPL[0-9A-F]{16}$")


def well_formed(key: str) -> bool:
    """Whether ``key`` could be a shipline key at all (checked before any lookup)."""
    return KEY_PATTERN.match(key) is not None


def well_formed_id(key_id: str) -> bool:
    """Whether ``key_id`` could name a shipline key."""
    return KEY_ID_PATTERN.match(key_id) is not None


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the key itself."""

    key_id: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    description: str | None = None
    expires_at: datetime | None = None
    rotated_to: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the key's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    @property
    def state(self) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired() else "active"

    @property
    def active(self) -> bool:
        """Whether the key may still be used."""
        return self.state == "active"

    def allows(self, needed: str) -> bool:
        """Whether this key's scope covers ``needed`` (admin covers everything)."""
        return self.active and (self.scope == needed or self.scope == "admin")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with ISO-8601 times."""
        return {
            "id": self.key_id,
            "scope": self.scope,
            "created_at": self.created_at.isoformat(),
            "revoked_at": _iso(self.revoked_at),
            "expires_at": _iso(self.expires_at),
            "rotated_to": self.rotated_to,
            "description": self.description,
            "state": self.state,
            "active": self.active,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: the only time ``key`` is known."""

    key_id: str
    key: str
    scope: str
    expires_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the one answer that carries the key."""
        return {
            "id": self.key_id,
            "key": self.key,
            "scope": self.scope,
            "expires_at": _iso(self.expires_at),
        }


def hash_key(key: str) -> str:
    """The stored form of a key: sha256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def default_secret_file() -> Path:
    """``$XDG_CONFIG_HOME/shipline/secret``, else ``~/.config/shipline/secret``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "shipline" / "secret"


def legacy_keyring_path(database: str) -> Path | None:
    """Where keys made before derivation kept their keyring: beside the database."""
    if database == ":memory:":
        return None
    return Path("shipline.keyring") if "://" in database else Path(database + ".keyring")


class Keyring:
    """The server secret that keys are derived from, kept outside the data folder.

    From a file only its owner can read (created 0600 on first use), or given as a
    value (``SHIPLINE_KEY_SECRET``); with neither, in memory for this process only.
    """

    def __init__(self, path: Path | None, value: str | None = None) -> None:
        self.path = path
        self._secret: bytes | None = None
        if value:
            self._secret = hashlib.sha256(value.encode("utf-8")).digest()
        self._lock = threading.Lock()

    @classmethod
    def for_database(
        cls, database: str, keyring: str | None = None, value: str | None = None
    ) -> Keyring:
        """The server secret: ``value``, else the file ``keyring``, else the default file
        (an in-memory database gets an in-memory secret)."""
        if value:
            return cls(None, value)
        if keyring:
            return cls(Path(keyring).expanduser())
        if database == ":memory:":
            return cls(None)
        return cls(default_secret_file())

    def secret(self, create: bool) -> bytes | None:
        """The secret; created (mode 0600) when ``create`` and missing."""
        with self._lock:
            if self._secret is not None:
                return self._secret
            if self.path is None:
                self._secret = secrets.token_bytes(32) if create else None
                return self._secret
            if self.path.exists():
                self._secret = _read_secret(self.path)
            elif create:
                self._secret = _write_secret(self.path)
            return self._secret


def _read_secret(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the key secret {path} can be read by others (mode {stat.S_IMODE(mode):o});"
            f" run `chmod 600 {path}`"
        )
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as error:
        raise ConfigError(f"the key secret {path} is not 64 hex digits; restore it") from error


def _write_secret(path: Path) -> bytes:
    value = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex())
    log.info("created the API key secret %s", path)
    return value


def derive_key(secret: bytes, key_id: str) -> str:
    """The key of ``key_id``: only who holds the server secret can compute it."""
    digest = hmac.new(secret, f"shipline-api-key:{key_id}".encode(), hashlib.sha256).digest()
    return KEY_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


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
    return plain.decode("utf-8", errors="replace")  # a wrong secret fails the hash check


def create_key(
    backend: Backend,
    keyring: Keyring,
    scope: str,
    description: str | None = None,
    expires_at: datetime | None = None,
) -> NewKey:
    """Create a key of ``scope``; the returned ``key`` is never stored or shown again."""
    if scope not in SCOPES:
        raise ValidationError(f"scope: {scope!r}; use one of {', '.join(SCOPES)}")
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise ValidationError(f"expires_at: {expires_at.isoformat()} has passed; give a later time")
    secret = keyring.secret(create=True)
    assert secret is not None  # create=True always yields one
    key_id = "SHPL" + secrets.token_hex(8).upper()
    key = derive_key(secret, key_id)
    backend.execute(
        "INSERT INTO api_keys (key_id, key_hash, scope, description, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [key_id, hash_key(key), scope, description, now, expires_at],
    )
    return NewKey(key_id=key_id, key=key, scope=scope, expires_at=expires_at)


_COLUMNS = "key_id, scope, created_at, revoked_at, description, expires_at, rotated_to"


def _row(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        key_id=row[0],
        scope=row[1],
        created_at=row[2],
        revoked_at=row[3],
        description=row[4],
        expires_at=row[5],
        rotated_to=row[6],
    )


def list_keys(backend: Backend, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first (without the keys themselves); ``include_revoked=False``
    leaves out revoked and expired ones."""
    rows = backend.fetchall(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
    keys = [_row(row) for row in rows]
    return keys if include_revoked else [key for key in keys if key.active]


def get_key(backend: Backend, key_id: str) -> ApiKey:
    """The key ``key_id``; NotFoundError if there is none."""
    row = backend.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", [key_id])
    if row is None:
        raise NotFoundError(f"API key {key_id!r} does not exist; see `shipline keys list`")
    return _row(row)


def revoke_key(backend: Backend, key_id: str) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first time."""
    with backend.transaction():
        backend.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            [datetime.now(UTC), key_id],
        )
        return get_key(backend, key_id)


def rotate_key(backend: Backend, keyring: Keyring, key_id: str, grace: timedelta) -> NewKey:
    """A successor of ``key_id`` with its scope and description; the old key stays valid
    for ``grace`` (or until its own expiry, if sooner), then expires."""
    if grace < timedelta(0):
        raise ValidationError("grace: must not be negative")
    old = get_key(backend, key_id)
    if not old.active:
        raise ValidationError(
            f"API key {key_id} is {old.state}; only an active key can be rotated"
            " (create a new one with `shipline keys create`)"
        )
    ends = datetime.now(UTC) + grace
    if old.expires_at is not None:
        ends = min(ends, old.expires_at)
    with backend.transaction():
        new = create_key(backend, keyring, old.scope, old.description, _successor_expiry(old))
        backend.execute(
            "UPDATE api_keys SET expires_at = ?, rotated_to = ? WHERE key_id = ?",
            [ends, new.key_id, key_id],
        )
    return new


def _successor_expiry(key: ApiKey) -> datetime | None:
    """A successor lives as long as its predecessor was meant to, from now."""
    if key.expires_at is None:
        return None
    return datetime.now(UTC) + (key.expires_at - key.created_at)


def verify_key(backend: Backend, key: str) -> ApiKey | None:
    """The active key ``key`` is, or None."""
    found = find_key(backend, key)
    return found if found is not None and found.active else None


def find_key(backend: Backend, key: str) -> ApiKey | None:
    """The key ``key`` is, in whatever state (revoked, expired), or None; no query for a
    string that is not a key at all."""
    if not well_formed(key):
        return None
    row = backend.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ?", [hash_key(key)])
    return None if row is None else _row(row)


@dataclass(frozen=True)
class StoredKey:
    """A key's row with what recomputing a signature needs (never the key itself)."""

    key: ApiKey
    key_hash: str
    wrapped: str | None


def _stored(row: tuple[Any, ...]) -> StoredKey:
    return StoredKey(key=_row(row[:7]), key_hash=str(row[7]), wrapped=row[8])


def secret_of(stored: StoredKey, secret: bytes | None) -> str | None:
    """The key itself, recomputed from the server secret; None when the secret is not
    the one the key was made with."""
    if secret is None:
        return None
    if stored.wrapped is not None:
        key = _unwrap(secret, stored.key.key_id, stored.wrapped)
    else:
        key = derive_key(secret, stored.key.key_id)
    return key if hmac.compare_digest(hash_key(key), stored.key_hash) else None


def sigv4_secret(backend: Backend, keyring: Keyring, key_id: str) -> tuple[ApiKey, str] | None:
    """An active key and its secret, for recomputing a SigV4 signature; None if unknown."""
    row = backend.fetchone(
        f"SELECT {_COLUMNS}, key_hash, sigv4_wrapped FROM api_keys WHERE key_id = ?", [key_id]
    )
    if row is None:
        return None
    stored = _stored(row)
    key = secret_of(stored, keyring.secret(create=False)) if stored.key.active else None
    return None if key is None else (stored.key, key)


@dataclass(frozen=True)
class KeySnapshot:
    """Every key at one moment, so that a server answers without the database."""

    by_hash: dict[str, ApiKey] = field(default_factory=dict)
    by_id: dict[str, StoredKey] = field(default_factory=dict)
    secret: bytes | None = None

    def bearer(self, key: str) -> ApiKey | None:
        """The key ``key`` is, in any state, or None."""
        return self.by_hash.get(hash_key(key)) if well_formed(key) else None

    def sigv4(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key of ``key_id``, in any state, and its secret; None if unknown."""
        stored = self.by_id.get(key_id)
        if stored is None:
            return None
        key = secret_of(stored, self.secret)
        return None if key is None else (stored.key, key)


def snapshot_keys(backend: Backend, keyring: Keyring) -> KeySnapshot:
    """Every key, with the server secret to recompute SigV4 secrets from."""
    rows = backend.fetchall(f"SELECT {_COLUMNS}, key_hash, sigv4_wrapped FROM api_keys")
    stored = [_stored(row) for row in rows]
    return KeySnapshot(
        by_hash={item.key_hash: item.key for item in stored},
        by_id={item.key.key_id: item for item in stored},
        secret=keyring.secret(create=False),
    )


def upgrade_legacy_keys(backend: Backend, keyring: Keyring, legacy: Path | None) -> int:
    """Rewrap the SigV4 copies of keys made before derivation with the server secret, then
    delete the old keyring beside the database; return how many keys were rewrapped.

    Until this runs, a copy of the data folder (database and old keyring) yields those
    keys; afterwards it yields none. A copy that fails to unwrap is left as it is.
    """
    if legacy is None or not legacy.exists():
        return 0
    if keyring.path is not None and keyring.path.resolve() == legacy.resolve():
        return 0  # the configured secret *is* that file: nothing to move
    old = Keyring(legacy).secret(create=False)
    rows = backend.fetchall(
        f"SELECT {_COLUMNS}, key_hash, sigv4_wrapped FROM api_keys WHERE sigv4_wrapped IS NOT NULL"
    )
    new_secret = keyring.secret(create=True)
    assert new_secret is not None
    moved = 0
    for stored in (_stored(row) for row in rows):
        key = secret_of(stored, old)
        if key is None:
            continue  # wrapped by some other keyring already, or by the current secret
        backend.execute(
            "UPDATE api_keys SET sigv4_wrapped = ? WHERE key_id = ?",
            [_wrap(new_secret, stored.key.key_id, key), stored.key.key_id],
        )
        moved += 1
    legacy.unlink()
    log.warning(
        "moved %d API key(s) to the key secret %s and deleted the old keyring %s",
        moved,
        keyring.path or "SHIPLINE_KEY_SECRET",
        legacy,
    )
    return moved


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, name: str = "duration") -> timedelta:
    """``90s``, ``15m``, ``24h``, ``30d`` or ``2w`` as a timedelta; ValidationError else."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValidationError(f"{name}: {text!r}; write a number and s, m, h, d or w (e.g. 30d)")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def expiry(expires_in: str | None, expires_at: str | datetime | None) -> datetime | None:
    """When a new key expires: ``expires_in`` from now, or at ``expires_at`` (ISO-8601
    with an offset), or never; ValidationError when both are given or either is bad."""
    if expires_in is not None and expires_at is not None:
        raise ValidationError("give expires_in or expires_at, not both")
    if expires_in is not None:
        return datetime.now(UTC) + parse_duration(expires_in, "expires_in")
    if expires_at is None or isinstance(expires_at, datetime):
        when = expires_at
    else:
        try:
            when = datetime.fromisoformat(expires_at.strip().replace("Z", "+00:00"))
        except ValueError as error:
            raise ValidationError(
                f"expires_at: {expires_at!r} is not ISO-8601 (e.g. 2027-01-31T00:00:00Z)"
            ) from error
    if when is not None and when.tzinfo is None:
        raise ValidationError(f"expires_at: {when.isoformat()} needs an offset or Z")
    return when
