"""The server's copy of the API keys table (the keys themselves are ``store.keys``).

A server answers every key from a snapshot of the whole table in memory, taken
again every ``ttl_seconds`` (so a revocation is seen within that), or when a
request brings a key the snapshot does not know, at most once every
``miss_interval_seconds`` however many such requests arrive. A string that is not
a key at all is refused without even that. So a flood of made-up keys costs the
database at most a few queries a second, and a genuine client none.

It also remembers the SigV4 signatures it has accepted, so that none is used twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from shipline.store.keys import ApiKey, KeySnapshot, well_formed, well_formed_id


class KeyLookup(Protocol):
    """Where a ``KeyCache`` reads the keys table (the pipeline)."""

    def key_snapshot(self) -> KeySnapshot:
        """Every key at this moment."""
        ...


class SeenSignatures:
    """Signatures accepted in the last window, so a captured request cannot be replayed.

    Bounded: past ``limit`` entries the oldest are dropped (they are the nearest to
    expiring anyway). Per process: another server process has its own.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._until: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, signature: str, valid_until: datetime, now: datetime) -> bool:
        """Record ``signature``; False if it was seen before (a replay)."""
        with self._lock:
            while self._until:
                oldest, until = next(iter(self._until.items()))
                if until > now and len(self._until) < self.limit:
                    break
                del self._until[oldest]
            if signature in self._until:
                return False
            self._until[signature] = valid_until
            return True


class KeyCache:
    """Every key in memory, refreshed every few seconds, so a request does not wait for
    the database."""

    def __init__(
        self,
        lookup: KeyLookup,
        ttl_seconds: float = 2.0,
        miss_interval_seconds: float = 0.5,
        max_waiting: int = 2,
    ) -> None:
        self.lookup = lookup
        self.ttl = ttl_seconds
        self.miss_interval = miss_interval_seconds
        self.max_waiting = max_waiting
        self.signatures = SeenSignatures()
        self.refreshes = 0
        """Snapshots taken so far (each is one query)."""
        self._snapshot = KeySnapshot()
        self._local: dict[str, ApiKey] = {}
        """Keys known only to this process's memory (the local owner's), by key."""
        self._taken_at = float("-inf")
        self._waiting = 0
        self._async_lock = asyncio.Lock()
        self._lock = threading.Lock()
        self._snapshot_lock = threading.Lock()

    def peek(self, key: str) -> tuple[bool, ApiKey | None]:
        """``(True, answer)`` when the answer for ``key`` is known without the database:
        a malformed key (None), or an active key in a fresh snapshot."""
        if not well_formed(key):
            return True, None
        if key in self._local:
            return True, self._local[key]
        found = self._snapshot.bearer(key)
        if found is not None and found.active and not self._stale():
            return True, found
        return False, None

    def verify(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None. Called from a thread: a key the snapshot
        does not know makes a new one, at most one per ``miss_interval``; only
        ``max_waiting`` threads wait for that turn, the others are answered None."""
        if not well_formed(key):
            return None
        if self._stale():
            self._take_once(time.monotonic())
        found = self._snapshot.bearer(key)
        if found is None and self._wait_for_turn():
            found = self._snapshot.bearer(key)
        return found if found is not None and found.active else None

    def refusal(self, key: str) -> tuple[str, str]:
        """Why ``key`` is refused, as ``(code, message)``, from memory."""
        if not well_formed(key):
            return "unauthenticated", "not a shipline API key (shpl_ and 43 characters)"
        found = self._snapshot.bearer(key)
        if found is None:
            return "unauthenticated", "API key unknown"
        if found.revoked_at is not None:
            return "key_revoked", f"API key {found.key_id} was revoked at {_iso(found.revoked_at)}"
        if found.expires_at is not None and found.expired():
            successor = f"; its successor is {found.rotated_to}" if found.rotated_to else ""
            return (
                "key_expired",
                f"API key {found.key_id} expired at {_iso(found.expires_at)}{successor};"
                " ask an admin for a new key",
            )
        return "unauthenticated", "API key not accepted"

    async def bearer(self, key: str) -> ApiKey | None:
        """The key ``key`` is, in any state (the caller says why a revoked or expired one
        is refused), or None. A miss waits for the next turn without holding a thread."""
        if not well_formed(key):
            return None
        await self._fresh()
        found = self._snapshot.bearer(key)
        if found is None:
            await self._after_miss()
            found = self._snapshot.bearer(key)
        return found

    async def sigv4(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key of ``key_id``, in any state, and its secret; None if unknown."""
        if not well_formed_id(key_id):
            return None
        await self._fresh()
        found = self._snapshot.sigv4(key_id)
        if found is None:
            await self._after_miss()
            found = self._snapshot.sigv4(key_id)
        return found

    def add_local(self, key: str, found: ApiKey) -> None:
        """Admit ``key`` as ``found`` for this process's life, never stored: the
        credential a server gives its own user (``server.discovery``)."""
        self._local[key] = found

    def is_local(self, found: ApiKey) -> bool:
        """Whether ``found`` is a key ``add_local`` admitted."""
        return any(local.key_id == found.key_id for local in self._local.values())

    def forget(self) -> None:
        """Take a new snapshot before the next answer (after a key changed here)."""
        self._taken_at = float("-inf")

    def _stale(self) -> bool:
        return time.monotonic() - self._taken_at >= self.ttl

    def _wait_for_turn(self) -> bool:
        """A snapshot taken after now, if this thread may wait for one."""
        missed_at = time.monotonic()
        with self._lock:
            if self._waiting >= self.max_waiting:
                return False
            self._waiting += 1
        try:
            wait = self._taken_at + self.miss_interval - missed_at
            if wait > 0:
                time.sleep(wait)
            self._take_once(missed_at)
        finally:
            with self._lock:
                self._waiting -= 1
        return True

    async def _fresh(self) -> None:
        if self._stale():
            await self._refresh(time.monotonic())

    async def _after_miss(self) -> None:
        missed_at = time.monotonic()
        wait = self._taken_at + self.miss_interval - missed_at
        if wait > 0:
            await asyncio.sleep(wait)
        await self._refresh(missed_at)

    async def _refresh(self, needed_since: float) -> None:
        async with self._async_lock:
            if self._taken_at < needed_since:
                await run_in_threadpool(self._take_once, needed_since)

    def _take_once(self, needed_since: float) -> None:
        """One snapshot at a time; a caller that waited for another's takes none."""
        with self._snapshot_lock:
            if self._taken_at >= needed_since:
                return
            started = time.monotonic()
            self._snapshot = self.lookup.key_snapshot()
            self._taken_at = started
            self.refreshes += 1


def _iso(value: datetime) -> str:
    return value.isoformat()
