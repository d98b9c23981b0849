"""Reads for users: one shipment's timeline and summary, and the pipeline's status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from shipline.store import Backend
from shipline.timeline.runs import Checkpoint, read_checkpoint


def shipment_timeline(backend: Backend, shipment_id: str) -> list[dict[str, Any]]:
    """The shipment's rows from the real-time view, in timeline order."""
    return backend.fetch_dicts(
        "SELECT * FROM shipment_timeline_realtime WHERE shipment_id = ? ORDER BY event_sequence",
        [shipment_id],
    )


def shipment_summary(backend: Backend, shipment_id: str) -> dict[str, Any] | None:
    """The shipment's performance metrics, or None if it is not in the view."""
    rows = backend.fetch_dicts(
        "SELECT * FROM shipment_summary WHERE shipment_id = ?", [shipment_id]
    )
    return rows[0] if rows else None


def shipments_named(backend: Backend, name: str) -> list[str]:
    """The shipments ``name`` finds: the shipment of that id if there is one, else
    every shipment with a reference of that name (booking, container, ...).

    A shipment with base rows is a shipment id; asking the base first is one
    indexed read, where ``shipment_state`` (read next) is scanned.
    """
    if backend.fetchone(
        "SELECT 1 FROM shipment_timeline_base WHERE shipment_id = ? LIMIT 1", [name]
    ) or backend.fetchone("SELECT 1 FROM shipment_state WHERE shipment_id = ?", [name]):
        return [name]
    rows = backend.fetchall(
        "SELECT DISTINCT shipment_id FROM shipment_references WHERE reference = ? ORDER BY 1",
        [name],
    )
    return [str(row[0]) for row in rows]


def why_not_in_view(backend: Backend, shipment_id: str) -> str:
    """Why a shipment has no rows in the view, as the end of a sentence."""
    held = backend.fetchone(
        "SELECT reason FROM shipment_holds WHERE shipment_id = ?", [shipment_id]
    )
    if held:
        return f"it is held out of the timeline runs ({held[0]}); see `shipline holds list`"
    since = read_checkpoint(backend).last_ingest_seq
    stored, pending = backend.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE ingest_seq > ?) FROM shipment_events"
        " WHERE shipment_id = ?",
        [since, shipment_id],
    ) or (0, 0)
    if not stored:
        return "no event of it is stored, and no reference names it"
    if pending:
        return f"{pending} of its events wait for the next run; run `shipline incremental`"
    return "every event of it was retracted or moved to another shipment"


def latest_estimates(backend: Backend, shipment_id: str) -> list[dict[str, Any]]:
    """The latest estimate received per (kind, source), by kind and source."""
    return backend.fetch_dicts(
        "SELECT kind, estimated_at, source, classifier, received_at FROM ("
        " SELECT e.*, row_number() OVER (PARTITION BY kind, source"
        "  ORDER BY received_at DESC, estimated_at DESC) AS newest"
        " FROM shipment_estimates AS e WHERE shipment_id = ?) AS ranked"
        " WHERE newest = 1 ORDER BY kind, source",
        [shipment_id],
    )


def references_of(backend: Backend, shipment_id: str) -> list[dict[str, Any]]:
    """Every other name the shipment goes by."""
    return backend.fetch_dicts(
        "SELECT reference_type, reference FROM shipment_references WHERE shipment_id = ?"
        " ORDER BY reference_type, reference",
        [shipment_id],
    )


@dataclass(frozen=True)
class Status:
    """Where the pipeline stands."""

    checkpoint: Checkpoint
    events: int
    newest_ingest_seq: int
    pending_events: int
    lag_seconds: float
    base_rows: int
    incremental_rows: int
    shipments: int
    open_dead_letters: int
    held_shipments: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready status."""
        data = asdict(self)
        data["checkpoint"] = {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in data["checkpoint"].items()
        }
        return data


def late_shipment_example(backend: Backend) -> str | None:
    """The longest shipment in the view one of whose events arrived after a later one
    and was folded in by an incremental run: the example the demo shows."""
    row = backend.fetchone(
        "SELECT late.shipment_id FROM shipment_events AS late"
        " JOIN shipment_events AS earlier ON earlier.shipment_id = late.shipment_id"
        " AND earlier.ingest_seq < late.ingest_seq"
        " AND earlier.event_timestamp > late.event_timestamp"
        " JOIN shipment_timeline_incremental AS i ON i.event_id = late.event_id"
        " JOIN shipment_state AS s ON s.shipment_id = late.shipment_id AND s.in_view"
        " ORDER BY s.event_sequence DESC, late.shipment_id LIMIT 1"
    )
    return None if row is None else str(row[0])


def status(backend: Backend) -> Status:
    """Checkpoint, counts and lag: the age of the oldest accepted, unprocessed event."""
    checkpoint = read_checkpoint(backend)
    row = backend.fetchone(
        "SELECT count(*), coalesce(max(ingest_seq), 0),"
        " count(*) FILTER (WHERE ingest_seq > ?),"
        " min(ingested_at) FILTER (WHERE ingest_seq > ?) FROM shipment_events",
        [checkpoint.last_ingest_seq, checkpoint.last_ingest_seq],
    )
    events, newest, pending, oldest_pending = row or (0, 0, 0, None)
    lag = 0.0 if oldest_pending is None else (datetime.now(UTC) - oldest_pending).total_seconds()
    return Status(
        checkpoint=checkpoint,
        events=int(events),
        newest_ingest_seq=int(newest),
        pending_events=int(pending),
        lag_seconds=max(lag, 0.0),
        base_rows=int(backend.scalar("SELECT count(*) FROM shipment_timeline_base")),
        incremental_rows=int(backend.scalar("SELECT count(*) FROM shipment_timeline_incremental")),
        shipments=int(backend.scalar("SELECT count(*) FROM shipment_state")),
        open_dead_letters=int(
            backend.scalar("SELECT count(*) FROM dead_letters WHERE state = 'open'")
        ),
        held_shipments=int(backend.scalar("SELECT count(*) FROM shipment_holds")),
    )
