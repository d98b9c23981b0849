"""Store validated events exactly once, on any backend.

The idempotency key is ``event_id`` (given, or derived from shipment, time and
type). A key seen before with the same normalised content is a duplicate: counted,
not stored. The same key with different content is a conflict: the first write
wins and the later record goes to ``dead_letters``, so nothing is lost silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from shipline.store import Backend

_CLASSIFY_SQL = """
CREATE OR REPLACE TEMP TABLE incoming_classified AS
WITH first_indexes AS (
    SELECT event_id, min(record_index) AS first_index FROM incoming_events GROUP BY event_id
),
first_copies AS (
    SELECT f.event_id, f.first_index, i.content_hash AS first_content_hash
    FROM first_indexes AS f
    JOIN incoming_events AS i ON i.event_id = f.event_id AND i.record_index = f.first_index
),
stored AS (
    SELECT e.event_id, e.content_hash AS stored_content_hash, e.ingest_seq AS stored_ingest_seq
    FROM shipment_events AS e
    WHERE e.event_id IN (SELECT event_id FROM incoming_events)
)
SELECT
    i.*,
    stored.stored_ingest_seq,
    CASE
        WHEN stored.stored_content_hash IS NOT NULL THEN
            CASE WHEN stored.stored_content_hash = i.content_hash
                THEN 'duplicate' ELSE 'conflict' END
        WHEN i.record_index > f.first_index THEN
            CASE WHEN f.first_content_hash = i.content_hash
                THEN 'duplicate' ELSE 'conflict' END
        ELSE 'accepted'
    END AS outcome
FROM incoming_events AS i
JOIN first_copies AS f ON f.event_id = i.event_id
LEFT JOIN stored ON stored.event_id = i.event_id
"""

# The writer is serialised (one process owns a DuckDB file), so a batch numbers its
# events from the current maximum: contiguous, and in arrival order.
_INSERT_SQL = """
INSERT INTO shipment_events (
    ingest_seq, event_id, shipment_id, event_timestamp, event_type, status, location_id,
    carrier, event_data, content_hash, source, ingested_at
)
SELECT
    ? + row_number() OVER (ORDER BY record_index), event_id, shipment_id, event_timestamp,
    event_type, status, location_id, carrier, event_data, content_hash, ?, current_timestamp
FROM incoming_classified WHERE outcome = 'accepted'
"""

_CONFLICTS_SQL = """
SELECT
    record_index, event_id, shipment_id, event_timestamp, event_type, status, location_id,
    carrier, event_data, stored_ingest_seq
FROM incoming_classified WHERE outcome = 'conflict' ORDER BY record_index
"""


def _conflict(row: dict[str, Any]) -> Conflict:
    """A refused record, kept in its normalised form so a redrive can read it back."""
    record = {
        key: row[key]
        for key in ("event_id", "shipment_id", "event_type", "status", "location_id", "carrier")
    }
    record["event_timestamp"] = row["event_timestamp"].isoformat()
    record["event_data"] = None if row["event_data"] is None else json.loads(row["event_data"])
    return Conflict(
        record_index=int(row["record_index"]),
        payload=json.dumps(record, ensure_ascii=False),
        event_id=str(row["event_id"]),
        stored_ingest_seq=row["stored_ingest_seq"],
    )


@dataclass(frozen=True)
class Conflict:
    """A record whose key was already taken by different content."""

    record_index: int
    payload: str
    event_id: str
    stored_ingest_seq: int | None

    @property
    def reason(self) -> str:
        """Why the record was refused, and what to do about it."""
        where = (
            f"stored as ingest_seq {self.stored_ingest_seq}"
            if self.stored_ingest_seq is not None
            else "taken by an earlier record of this batch"
        )
        return (
            f"event_id: {self.event_id!r} already {where} with different content; the first"
            " write wins. Send a new event_id for a new event"
        )


@dataclass(frozen=True)
class StoreOutcome:
    """What happened to the accepted records of one batch."""

    stored: int
    duplicates: int
    conflicts: list[Conflict]
    first_ingest_seq: int | None
    last_ingest_seq: int | None
    duplicate_indexes: list[int]


def store_events(backend: Backend, accepted: pa.Table, source: str) -> StoreOutcome:
    """Append the new events of ``accepted`` (validated, normalised) to the store.

    Runs inside the caller's transaction, so the events and any dead letters for
    the same batch commit together.
    """
    if accepted.num_rows == 0:
        return StoreOutcome(0, 0, [], None, None, [])
    backend.register("incoming_events", accepted)
    try:
        # Writers take turns from here to commit, so ingest_seq follows commit order
        # and a processor never sees a gap that a slower writer fills later.
        backend.lock("shipline.ingest")
        backend.execute(_CLASSIFY_SQL)
        counts = dict(
            backend.fetchall("SELECT outcome, count(*) FROM incoming_classified GROUP BY outcome")
        )
        before = int(backend.scalar("SELECT coalesce(max(ingest_seq), 0) FROM shipment_events"))
        backend.execute(_INSERT_SQL, [before, source])
        conflicts = [_conflict(row) for row in backend.fetch_dicts(_CONFLICTS_SQL)]
        duplicate_indexes = [
            int(row[0])
            for row in backend.fetchall(
                "SELECT record_index FROM incoming_classified WHERE outcome = 'duplicate'"
                " ORDER BY record_index"
            )
        ]
        stored = int(counts.get("accepted", 0))
        last = before + stored if stored else None
        backend.execute("DROP TABLE incoming_classified")
    finally:
        backend.unregister("incoming_events")
    return StoreOutcome(
        stored=stored,
        duplicates=int(counts.get("duplicate", 0)),
        conflicts=conflicts,
        first_ingest_seq=None if last is None else int(last) - stored + 1,
        last_ingest_seq=None if last is None else int(last),
        duplicate_indexes=duplicate_indexes,
    )
