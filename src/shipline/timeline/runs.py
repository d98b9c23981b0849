"""The checkpoint and the record of each run.

Checkpoints count ingestion (``ingest_seq``), not event time: seed 000's
``event_timestamp > checkpoint`` would silently drop every late event.
``last_processed_timestamp`` is kept as information only.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shipline.jsonable import jsonable
from shipline.store import Backend

CHECKPOINT_ID = "shipment_timeline"
TIMELINE_LOCK = "shipline.timeline"
"""Held by every run from reading the checkpoint to committing it: one run at a time,
across processes too."""


@dataclass(frozen=True)
class Checkpoint:
    """How far processing has got, in ingest order."""

    last_ingest_seq: int = 0
    last_processed_timestamp: datetime | None = None
    last_update_time: datetime | None = None
    process_type: str | None = None
    status: str | None = None
    base_date: date | None = None
    view_rows: int = 0


def read_checkpoint(backend: Backend) -> Checkpoint:
    """The current checkpoint; all zeros before the first run."""
    rows = backend.fetch_dicts(
        "SELECT last_ingest_seq, last_processed_timestamp, last_update_time, process_type,"
        " status, base_date, view_rows FROM processing_checkpoints WHERE checkpoint_id = ?",
        [CHECKPOINT_ID],
    )
    return Checkpoint(**rows[0]) if rows else Checkpoint()


REFERENCE_CHECKPOINT_ID = "reference_data"
"""The row a reference load (locations, packages) rewrites, so reads derived from
them know that they changed (``view_version``)."""


def view_version(backend: Backend) -> tuple[Any, ...]:
    """What the view and the reference tables were last changed by, in one cheap read:
    every run, retention pass and reference load rewrites a checkpoint row, so a read
    of the view computed at one version equals a read at any later equal version."""
    rows = backend.fetchall(
        "SELECT checkpoint_id, last_update_time, last_ingest_seq, view_rows"
        " FROM processing_checkpoints ORDER BY checkpoint_id"
    )
    return tuple(tuple(row) for row in rows)


def mark_reference_change(backend: Backend) -> None:
    """Record that a reference table changed; call inside the load's transaction."""
    backend.execute(
        "DELETE FROM processing_checkpoints WHERE checkpoint_id = ?", [REFERENCE_CHECKPOINT_ID]
    )
    backend.execute(
        "INSERT INTO processing_checkpoints (checkpoint_id, last_update_time, process_type,"
        " status) VALUES (?, ?, 'reference_load', 'completed')",
        [REFERENCE_CHECKPOINT_ID, datetime.now(UTC)],
    )


def write_checkpoint(backend: Backend, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint; call inside the run's transaction."""
    backend.execute("DELETE FROM processing_checkpoints WHERE checkpoint_id = ?", [CHECKPOINT_ID])
    backend.execute(
        "INSERT INTO processing_checkpoints (checkpoint_id, last_processed_timestamp,"
        " last_update_time, process_type, status, last_ingest_seq, base_date, view_rows)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            CHECKPOINT_ID,
            checkpoint.last_processed_timestamp,
            checkpoint.last_update_time,
            checkpoint.process_type,
            checkpoint.status,
            checkpoint.last_ingest_seq,
            checkpoint.base_date,
            checkpoint.view_rows,
        ],
    )


@dataclass(frozen=True)
class ReplaySelection:
    """Why a replay selected the shipments it did (DESIGN 4: every stored event
    ingested at or after ``replay_from``, and every event timestamped at or after it).

    An event can be both, so the two kinds overlap: ``shipments`` and ``events`` count
    each once. Events are stored records, every revision included.
    """

    replay_from: datetime
    shipments: int
    events: int
    ingested_shipments: int
    """Shipments with an event ingested at or after ``replay_from``."""
    ingested_events: int
    timestamped_shipments: int
    """Shipments with an event timestamped at or after ``replay_from``."""
    timestamped_events: int


@dataclass(frozen=True)
class RunPlan:
    """What a base or incremental run would do now: a dry run, which writes nothing.

    ``shipments`` and ``rows`` are what the run would report as ``shipments_affected``
    and ``rows_written`` if it ran now (and no shipment's data made it fail).
    """

    process_type: str
    events: int
    """Events accepted since the checkpoint."""
    shipments: int
    rows: int
    view_rows: int
    """Rows in the view now: what a full recompute writes."""
    from_ingest_seq: int
    to_ingest_seq: int
    recomputed_shipments: int = 0
    """Incremental: shipments recomputed from their history (late events, a replay,
    a retried hold, a revision, or outside the view); the others continue their last row."""
    replay: ReplaySelection | None = None
    rebuild: bool = False
    cutoff: datetime | None = None
    """Base: shipments whose latest event is at or after it are recomputed (with
    every shipment changed since the last base)."""
    duration_ms: float = 0.0
    dry_run: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``--dry-run --json`` prints it."""
        data: dict[str, Any] = jsonable(asdict(self))
        return data


@dataclass(frozen=True)
class RunResult:
    """What one base or incremental run did.

    ``full_recompute_rows`` is what a full recompute would have written (the rows in
    the view), so ``rows_written / full_recompute_rows`` is the work a run saves.
    """

    process_type: str
    events: int
    shipments_affected: int
    rows_written: int
    full_recompute_rows: int
    from_ingest_seq: int
    to_ingest_seq: int
    duration_ms: float
    late_shipments: int = 0
    held_shipments: int = 0
    """Shipments this run put on hold because their data made it fail."""
    replay: ReplaySelection | None = None
    """What a replay selected, and why; None for a run without one."""
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready stats, as ``--json`` prints them."""
        data: dict[str, Any] = jsonable(asdict(self))
        return data


def record_run(backend: Backend, run: RunResult) -> None:
    """Keep the run for monitoring (recent batches, work saved)."""
    backend.execute(
        "INSERT INTO processing_runs (run_id, process_type, started_at, duration_ms,"
        " from_ingest_seq, to_ingest_seq, events, shipments_affected, late_shipments,"
        " rows_written, full_recompute_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            run.process_type,
            run.started_at,
            run.duration_ms,
            run.from_ingest_seq,
            run.to_ingest_seq,
            run.events,
            run.shipments_affected,
            run.late_shipments,
            run.rows_written,
            run.full_recompute_rows,
        ],
    )


def max_ingest_seq(backend: Backend) -> int:
    """The newest accepted event's ``ingest_seq``; 0 for an empty store."""
    return int(backend.scalar("SELECT coalesce(max(ingest_seq), 0) FROM shipment_events"))
