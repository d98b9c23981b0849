"""Reads over the whole view, kept until the data they were read from changes.

A KPI report aggregates every shipment in the view (a row each, from the facts the
runs keep: half a second to a second at ten million events). Its inputs change only
when a run, a retention pass or a reference load commits, and each of those rewrites
a checkpoint row; so a report is kept with the version it was read at
(``view_version``) and served again while the version is the same. It is then
exactly what a new read would give, in another process too: the version is read from
the database, not remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from shipline.store import Backend
from shipline.timeline.runs import view_version

T = TypeVar("T")


class ViewCache:
    """The latest result of each read (by key), with the version it was read at."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, backend: Backend, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """The result of ``compute`` at the current version, and whether it was kept
        from an earlier call.

        The version is read before computing: a run that commits meanwhile makes the
        kept result newer than its version says, never older, so it is recomputed
        at the next call rather than served stale.
        """
        version = view_version(backend)
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == version:
                self._entries.move_to_end(key)
                return kept[1], True
        value = compute()
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value, False
