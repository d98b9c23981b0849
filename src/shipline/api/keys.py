"""The server's cache of verified API keys (the keys themselves are ``store.keys``)."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from shipline.store.keys import ApiKey, hash_key


class KeyLookup(Protocol):
    """Where a ``KeyCache`` asks about keys it has not cached (the pipeline)."""

    def verify_key(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None."""
        ...

    def sigv4_secret(self, key_id: str) -> tuple[ApiKey, str] | None:
        """An active key and its secret by id, or None."""
        ...


class KeyCache:
    """Verified keys for a few seconds, so a request does not wait for the database."""

    def __init__(self, lookup: KeyLookup, ttl_seconds: float = 5.0) -> None:
        self.lookup = lookup
        self.ttl = ttl_seconds
        self._bearer: dict[str, tuple[float, ApiKey | None]] = {}
        self._sigv4: dict[str, tuple[float, tuple[ApiKey, str] | None]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> tuple[bool, ApiKey | None]:
        """``(True, answer)`` when the answer for ``key`` is cached, without the database."""
        with self._lock:
            hit = self._bearer.get(hash_key(key))
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def verify(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None."""
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._bearer.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.lookup.verify_key(key)
        with self._lock:
            if len(self._bearer) > 10_000:
                self._bearer.clear()
            self._bearer[digest] = (now + self.ttl, found)
        return found

    def sigv4(self, key_id: str) -> tuple[ApiKey, str] | None:
        """An active key and its secret by id, or None."""
        now = time.monotonic()
        with self._lock:
            hit = self._sigv4.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.lookup.sigv4_secret(key_id)
        with self._lock:
            if len(self._sigv4) > 10_000:
                self._sigv4.clear()
            self._sigv4[key_id] = (now + self.ttl, found)
        return found

    def forget(self) -> None:
        """Drop every cached answer (after a key is revoked through the API)."""
        with self._lock:
            self._bearer.clear()
            self._sigv4.clear()
