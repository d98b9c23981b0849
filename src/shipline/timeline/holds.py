"""Holds: one shipment whose data breaks a run must not stop every other shipment.

When a timeline run fails on the data (not on a busy or lost database), the
shipments it would touch are searched by bisection: trial runs over halves of
them, each rolled back, until the ones that fail alone are found. Those are
*held* (``shipment_holds``, with the error) and the run commits the rest, moving
the checkpoint on. A held shipment keeps its events; it is retried, recomputed
whole, when a new event of it arrives or when ``shipline holds release`` asks,
and its hold ends when a run succeeds with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from shipline.errors import BackendError
from shipline.store import Backend
from shipline.timeline.runs import RunResult

log = logging.getLogger(__name__)

EXCLUDED = "run_excluded"
"""The relation of shipment ids a run leaves out (held now, or outside a trial)."""

MAX_REASON = 500
"""Characters of an error kept with its hold."""

Attempt = Callable[[Mapping[str, str], bool], RunResult]
"""A run over every touched shipment but the excluded ones (id -> why); with
``commit`` False it raises ``RolledBack`` instead of committing."""


class RolledBack(Exception):
    """A trial run that succeeded and was rolled back on purpose."""

    def __init__(self, result: RunResult) -> None:
        super().__init__("trial run rolled back")
        self.result = result


@dataclass(frozen=True)
class Hold:
    """A shipment left out of the timeline runs because its data made one fail."""

    shipment_id: str
    held_at: datetime
    process_type: str
    reason: str
    retry: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "shipment_id": self.shipment_id,
            "held_at": self.held_at.isoformat(),
            "process_type": self.process_type,
            "reason": self.reason,
            "retry": self.retry,
        }


def isolate_failures(
    backend: Backend,
    process_type: str,
    *,
    candidates: Callable[[], Sequence[str]],
    attempt: Attempt,
) -> RunResult:
    """Run ``attempt``; if it fails on the data, hold the shipments that fail alone
    and commit the others.

    A failure that no single shipment causes, or that every shipment causes (a
    broken database, a bug), is raised as it is: holding everything would hide it.
    """
    try:
        with excluding(backend, []):
            return attempt({}, True)
    except BackendError as error:
        if error.transient:
            raise
        failure = error
    pool = list(candidates())
    log.warning("%s run failed (%s); searching %d shipments", process_type, failure, len(pool))
    culprits = dict(_bisect(backend, attempt, pool, pool))
    if not culprits or (len(culprits) == len(pool) and len(pool) > 1):
        raise failure
    log.warning("%s run holds %d shipment(s): %s", process_type, len(culprits), sorted(culprits))
    with excluding(backend, list(culprits)):
        return attempt(culprits, True)


def _bisect(
    backend: Backend, attempt: Attempt, pool: list[str], subset: list[str]
) -> Iterator[tuple[str, str]]:
    """The shipments of ``subset`` that make a run fail alone, each with its error."""
    if not subset:
        return
    error = _trial(backend, attempt, pool, subset)
    if error is None:
        return
    if len(subset) == 1:
        yield subset[0], error[:MAX_REASON]
        return
    middle = len(subset) // 2
    yield from _bisect(backend, attempt, pool, subset[:middle])
    yield from _bisect(backend, attempt, pool, subset[middle:])


def _trial(backend: Backend, attempt: Attempt, pool: list[str], subset: list[str]) -> str | None:
    """The error of a rolled-back run over ``subset`` only, or None if it succeeds."""
    chosen = set(subset)
    others = [shipment for shipment in pool if shipment not in chosen]
    try:
        with excluding(backend, others):
            attempt(dict.fromkeys(others, ""), False)
    except RolledBack:
        return None
    except BackendError as error:
        if error.transient:
            raise
        return str(error)
    return None


@contextmanager
def excluding(backend: Backend, shipment_ids: Sequence[str]) -> Iterator[None]:
    """Leave these shipments out of the runs inside the block (relation ``run_excluded``)."""
    backend.register(EXCLUDED, pa.table({"shipment_id": pa.array(shipment_ids, pa.string())}))
    try:
        yield
    finally:
        backend.unregister(EXCLUDED)


def record_holds(backend: Backend, reasons: Mapping[str, str], process_type: str) -> None:
    """Hold these shipments (id -> error), inside the run's transaction."""
    now = datetime.now(UTC)
    for shipment_id, reason in reasons.items():  # a handful: bisection found each
        backend.execute("DELETE FROM shipment_holds WHERE shipment_id = ?", [shipment_id])
        backend.execute(
            "INSERT INTO shipment_holds (shipment_id, held_at, process_type, reason, retry)"
            " VALUES (?, ?, ?, ?, false)",
            [shipment_id, now, process_type, reason],
        )


def release_retried(backend: Backend) -> None:
    """End the holds of the shipments this run computed (relation ``affected``)."""
    backend.execute(
        "DELETE FROM shipment_holds WHERE shipment_id IN (SELECT shipment_id FROM affected)"
    )


def list_holds(backend: Backend) -> list[Hold]:
    """Every held shipment, oldest hold first."""
    rows = backend.fetch_dicts(
        "SELECT shipment_id, held_at, process_type, reason, retry FROM shipment_holds"
        " ORDER BY held_at, shipment_id"
    )
    return [Hold(**row) for row in rows]


def release_holds(backend: Backend, shipment_ids: Sequence[str]) -> int:
    """Ask the next incremental run to retry these held shipments; how many were held."""
    released = 0
    with backend.transaction():
        for shipment_id in dict.fromkeys(shipment_ids):
            released += backend.execute_count(
                "UPDATE shipment_holds SET retry = true WHERE shipment_id = ?", [shipment_id]
            )
    return released


def held_count(backend: Backend) -> int:
    """How many shipments are held."""
    return int(backend.scalar("SELECT count(*) FROM shipment_holds"))
