"""Store validated events exactly once, on any backend.

The idempotency key is ``event_id`` (given, or derived from shipment, time and
type). A key seen before with the same normalised content is a duplicate: counted,
not stored. A newer revision of a key, or its first retraction, is stored beside
the older records (DESIGN 2a) and marks them superseded. Any other record with a
taken key is a conflict: it goes to ``dead_letters``, so nothing is lost silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from shipline.store import Backend

# Each record is judged against the stored records of its event id and the earlier
# records of its batch, as if the batch arrived one record at a time:
#  * the same content as one of them is a duplicate;
#  * a retraction is accepted once per event id (it is final);
#  * an event is accepted when its id is new, or its revision is newer than every
#    earlier one of that id (a missing revision sorts first, so without revision
#    information the first write wins);
#  * anything else is a conflict.
# Window frames end one row before the record, so "earlier" never includes itself.
_CLASSIFY_SQL = """
CREATE OR REPLACE TEMP TABLE incoming_classified AS
WITH stored AS (
    SELECT e.event_id, e.content_hash, e.ingest_seq, e.revision, coalesce(e.retracted, false)
        AS retracted
    FROM shipment_events AS e
    WHERE e.event_id IN (SELECT event_id FROM incoming_events)
),
stored_ids AS (
    SELECT
        event_id,
        max(ingest_seq) AS stored_ingest_seq,
        max(CASE WHEN NOT retracted THEN coalesce(revision, -1) END) AS stored_revision,
        max(CASE WHEN retracted THEN 1 ELSE 0 END) AS stored_retractions
    FROM stored GROUP BY event_id
),
stored_copies AS (SELECT DISTINCT event_id, content_hash FROM stored),
-- The classification keeps the key columns only; the insert and the conflicts join
-- the rows back by record_index: windows and a table over whole rows copy and sort
-- their payloads as well. Most batches repeat no event id, so only the records of
-- an id the batch repeats are windowed; every other record has nothing earlier.
repeated AS (
    SELECT event_id FROM incoming_events GROUP BY event_id HAVING count(*) > 1
),
earlier AS (
    SELECT
        i.record_index, i.event_id, i.content_hash, i.revision, i.retracted,
        max(CASE WHEN NOT i.retracted THEN coalesce(i.revision, -1) END) OVER earlier_rows
            AS earlier_revision,
        max(CASE WHEN i.retracted THEN 1 ELSE 0 END) OVER earlier_rows AS earlier_retractions,
        count(*) OVER (
            PARTITION BY i.event_id, i.content_hash ORDER BY i.record_index
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS earlier_copies
    FROM incoming_events AS i
    WHERE i.event_id IN (SELECT event_id FROM repeated)
    WINDOW earlier_rows AS (
        PARTITION BY i.event_id ORDER BY i.record_index
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )
    UNION ALL
    SELECT
        i.record_index, i.event_id, i.content_hash, i.revision, i.retracted,
        NULL, NULL, 0
    FROM incoming_events AS i
    WHERE i.event_id NOT IN (SELECT event_id FROM repeated)
)
SELECT
    r.record_index, r.event_id, r.retracted,
    s.stored_ingest_seq,
    s.stored_ingest_seq IS NOT NULL OR r.earlier_revision IS NOT NULL
        OR coalesce(r.earlier_retractions, 0) > 0 OR r.retracted AS revises,
    CASE
        WHEN c.event_id IS NOT NULL OR r.earlier_copies > 0 THEN 'duplicate'
        WHEN r.retracted THEN
            CASE WHEN coalesce(s.stored_retractions, 0) + coalesce(r.earlier_retractions, 0) = 0
                THEN 'accepted' ELSE 'conflict' END
        WHEN s.stored_revision IS NULL AND r.earlier_revision IS NULL THEN 'accepted'
        WHEN coalesce(r.revision, -1)
            > greatest(coalesce(s.stored_revision, -1), coalesce(r.earlier_revision, -1))
            THEN 'accepted'
        ELSE 'conflict'
    END AS outcome
FROM earlier AS r
LEFT JOIN stored_ids AS s ON s.event_id = r.event_id
LEFT JOIN stored_copies AS c ON c.event_id = r.event_id AND c.content_hash = r.content_hash
"""

# The writer is serialised (one process owns a DuckDB file), so a batch numbers its
# events from the current maximum: contiguous, and in arrival order. The numbers are
# counted over the record indexes alone and joined back: a window ordered over the
# whole rows sorts their payloads too, and cost half the insert. Rows are written in
# ingest_seq order, so the runs' range reads of new events stay narrow.
_INSERT_SQL = """
INSERT INTO shipment_events (
    ingest_seq, event_id, shipment_id, event_timestamp, event_type, status, location_id,
    carrier, event_data, content_hash, source, ingested_at, revision, retracted
)
WITH numbered AS (
    SELECT record_index, row_number() OVER (ORDER BY record_index) AS accepted_number
    FROM incoming_classified WHERE outcome = 'accepted'
)
SELECT
    ? + n.accepted_number, i.event_id, i.shipment_id, i.event_timestamp, i.event_type,
    i.status, i.location_id, i.carrier, i.event_data, i.content_hash, ?, current_timestamp,
    i.revision, i.retracted
FROM incoming_events AS i JOIN numbered AS n ON n.record_index = i.record_index
ORDER BY n.accepted_number
"""

# After a batch that revised or retracted events, the records of those ids that
# stopped being current: an older revision from the next revision's ingest_seq, a
# retracted one from the retraction's (or its own, if it came later), a retraction
# from its own. A record is superseded once, so each gets one row.
_SUPERSEDE_SQL = """
INSERT INTO superseded_events (ingest_seq, event_id, shipment_id, superseded_by)
WITH revised AS (
    SELECT DISTINCT event_id FROM incoming_classified WHERE outcome = 'accepted' AND revises
),
records AS (
    SELECT e.ingest_seq, e.event_id, e.shipment_id, coalesce(e.retracted, false) AS retracted
    FROM shipment_events AS e WHERE e.event_id IN (SELECT event_id FROM revised)
),
marked AS (
    SELECT
        r.*,
        min(CASE WHEN r.retracted THEN r.ingest_seq END) OVER (PARTITION BY r.event_id)
            AS retracted_at,
        (SELECT min(n.ingest_seq) FROM records AS n WHERE n.event_id = r.event_id
            AND NOT n.retracted AND n.ingest_seq > r.ingest_seq) AS next_revision_at
    FROM records AS r
),
ended AS (
    SELECT
        ingest_seq, event_id, shipment_id,
        CASE
            WHEN retracted THEN ingest_seq
            WHEN retracted_at IS NULL THEN next_revision_at
            WHEN next_revision_at IS NULL THEN greatest(retracted_at, ingest_seq)
            ELSE least(next_revision_at, greatest(retracted_at, ingest_seq))
        END AS superseded_by
    FROM marked
)
SELECT ingest_seq, event_id, shipment_id, superseded_by FROM ended AS d
WHERE superseded_by IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM superseded_events AS s WHERE s.ingest_seq = d.ingest_seq)
"""

_REVISING_SQL = """
SELECT record_index, retracted FROM incoming_classified
WHERE outcome = 'accepted' AND revises ORDER BY record_index
"""

_CONFLICTS_SQL = """
SELECT
    i.record_index, i.event_id, i.shipment_id, i.event_timestamp, i.event_type, i.status,
    i.location_id, i.carrier, i.event_data, c.stored_ingest_seq, i.revision, i.retracted
FROM incoming_classified AS c JOIN incoming_events AS i ON i.record_index = c.record_index
WHERE c.outcome = 'conflict' ORDER BY i.record_index
"""


def _conflict(row: dict[str, Any]) -> Conflict:
    """A refused record, kept in its normalised form so a redrive can read it back."""
    record = {
        key: row[key]
        for key in ("event_id", "shipment_id", "event_type", "status", "location_id", "carrier")
    }
    record["event_timestamp"] = row["event_timestamp"].isoformat()
    record["event_data"] = None if row["event_data"] is None else json.loads(row["event_data"])
    if row["revision"] is not None:
        record["revision"] = row["revision"]
    if row["retracted"]:
        record["retracted"] = True
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
            " write wins unless a record is a newer revision. Send a new event_id for a new"
            " event, or a higher revision (or a later updated_at) to correct this one"
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
    revision_indexes: list[int] = field(default_factory=list)
    """Accepted records that replace an earlier revision of their event id."""
    retraction_indexes: list[int] = field(default_factory=list)


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
        revising = backend.fetchall(_REVISING_SQL)
        if revising:
            backend.execute(_SUPERSEDE_SQL)
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
        revision_indexes=[int(index) for index, retracted in revising if not retracted],
        retraction_indexes=[int(index) for index, retracted in revising if retracted],
    )
