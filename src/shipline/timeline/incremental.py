"""Incremental runs: keep the real-time view exact at the cost of the new events.

Each shipment touched by new events (``ingest_seq`` past the checkpoint) takes one
of three paths:

* ``new``: no state yet, so every event it has is new; computed whole from them.
* ``append``: all its new events sort after its last row. The timeline continues
  from ``shipment_state`` (the last row) without reading history, and the old last
  row is rewritten, because a successor changes its ``next_event_timestamp`` and
  ``status_duration``.
* ``recompute``: a late event sorts before its last row, it is outside the view, or
  a replay asked for it. It is recomputed from its whole history, and the rows from
  the predecessor of its earliest new event onward are rewritten.

Output rows, state and checkpoint commit in one transaction, so a crash at any
point loses and duplicates nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from string import Template

from shipline.store import Backend
from shipline.timeline.base import EVENT_COLUMNS, whole_shipments
from shipline.timeline.runs import (
    TIMELINE_LOCK,
    RunResult,
    max_ingest_seq,
    read_checkpoint,
    record_run,
    write_checkpoint,
)
from shipline.timeline.sql import STATE_COLUMNS, TIMELINE_COLUMNS, columns, timeline_rows

_NEW_EVENTS = f"""
CREATE OR REPLACE TEMP TABLE new_events AS
SELECT {columns(EVENT_COLUMNS)} FROM shipment_events WHERE ingest_seq > ? AND ingest_seq <= ?
"""

_REPLAYED = """
CREATE OR REPLACE TEMP TABLE replayed AS
SELECT DISTINCT shipment_id FROM shipment_events
WHERE ingest_seq <= ? AND (ingested_at >= ? OR event_timestamp >= ?)
"""

_AFFECTED = Template("""
CREATE OR REPLACE TEMP TABLE affected AS
WITH touched AS (
    SELECT shipment_id, count(*) AS new_events, min(event_timestamp) AS first_new_timestamp,
        false AS replay
    FROM new_events GROUP BY shipment_id
    $replay_union
),
touched_once AS (
    SELECT shipment_id, sum(new_events) AS new_events,
        min(first_new_timestamp) AS first_new_timestamp, bool_or(replay) AS replay
    FROM touched GROUP BY shipment_id
),
late AS (
    SELECT n.shipment_id
    FROM new_events AS n JOIN touched_state AS s ON s.shipment_id = n.shipment_id
    WHERE n.event_timestamp < s.event_timestamp
       OR (n.event_timestamp = s.event_timestamp AND n.event_id < s.event_id)
    GROUP BY n.shipment_id
)
SELECT
    t.shipment_id,
    t.new_events,
    t.first_new_timestamp,
    t.replay,
    coalesce(s.in_view, false) AS was_in_view,
    CASE
        WHEN s.shipment_id IS NULL THEN 'new'
        WHEN t.replay OR NOT s.in_view OR t.shipment_id IN (SELECT shipment_id FROM late)
            THEN 'recompute'
        ELSE 'append'
    END AS path
FROM touched_once AS t
LEFT JOIN touched_state AS s ON s.shipment_id = t.shipment_id
""")

# The state rows of the touched shipments, read once: shipment_state holds every
# shipment, so each further join against it would cost a scan.
_TOUCHED_STATE = Template("""
CREATE OR REPLACE TEMP TABLE touched_state AS
SELECT * FROM shipment_state
WHERE shipment_id IN (SELECT shipment_id FROM new_events $replay_union)
""")

# Where rows are found by scanning (DuckDB), find the touched rows' locators
# first, reading one column, then fetch and later delete them by locator: the
# state table has a row per shipment ever seen, and a wide scan of it per run
# would grow with the store.
_TOUCHED_STATE_BY_LOCATOR = Template("""
CREATE OR REPLACE TEMP TABLE touched_rows AS
SELECT $locator AS state_row FROM shipment_state
WHERE shipment_id IN (SELECT shipment_id FROM new_events $replay_union);
CREATE OR REPLACE TEMP TABLE touched_state AS
SELECT $locator AS state_row, * FROM shipment_state
WHERE $locator IN (SELECT state_row FROM touched_rows)
""")

_SEEDED_EVENTS = f"""
(SELECT {columns(EVENT_COLUMNS, "n.")},
    s.event_sequence AS seed_sequence,
    s.event_timestamp AS seed_event_timestamp,
    s.first_event_timestamp AS seed_first_event_timestamp,
    s.location_id AS seed_location_id,
    s.status AS seed_status,
    s.location_transition_count AS seed_location_transition_count,
    s.status_transition_count AS seed_status_transition_count
FROM new_events AS n
JOIN affected AS a ON a.shipment_id = n.shipment_id AND a.path IN ('new', 'append')
LEFT JOIN touched_state AS s ON s.shipment_id = n.shipment_id)
"""

_PREDECESSORS = f"""
SELECT {
    ", ".join(
        f"a.first_new_timestamp AS {c}"
        if c == "next_event_timestamp"
        else f"a.first_new_timestamp - s.event_timestamp AS {c}"
        if c == "status_duration"
        else f"s.{c}"
        for c in TIMELINE_COLUMNS
    )
}
FROM touched_state AS s JOIN affected AS a ON a.shipment_id = s.shipment_id
WHERE a.path = 'append'
"""

_CONTINUED = f"""
SELECT {columns(TIMELINE_COLUMNS)} FROM ({timeline_rows(_SEEDED_EVENTS)}) AS continued
UNION ALL
{_PREDECESSORS}
"""

_RECOMPUTED = f"""
SELECT {columns(TIMELINE_COLUMNS, "r.")}
FROM ({timeline_rows(whole_shipments("recomputed"))}) AS r
JOIN affected AS a ON a.shipment_id = r.shipment_id
-- Rows before the predecessor of the earliest new event are unchanged; rewriting
-- them would cost without changing the view.
WHERE a.replay OR NOT a.was_in_view
   OR coalesce(r.next_event_timestamp, r.event_timestamp) >= a.first_new_timestamp
"""


def run_incremental(backend: Backend, *, replay_from: datetime | None = None) -> RunResult:
    """Process every event accepted since the checkpoint (and, with ``replay_from``,
    every event ingested or timestamped at or after it, again)."""
    started = time.perf_counter()
    batch_id = str(uuid.uuid4())
    with backend.transaction():
        backend.lock(TIMELINE_LOCK)
        checkpoint = read_checkpoint(backend)
        since, upto = checkpoint.last_ingest_seq, max_ingest_seq(backend)
        if upto <= since and replay_from is None:
            return RunResult("incremental", 0, 0, 0, checkpoint.view_rows, since, since, 0.0)
        backend.execute(_NEW_EVENTS, [since, upto])
        replay_union = ""
        if replay_from is not None:
            backend.execute(_REPLAYED, [upto, replay_from, replay_from])
            replay_union = (
                "UNION ALL SELECT shipment_id, 0, CAST(NULL AS TIMESTAMPTZ), true FROM replayed"
            )
        replayed = "UNION ALL SELECT shipment_id FROM replayed" if replay_from else ""
        if backend.ROW_LOCATOR:
            for statement in _TOUCHED_STATE_BY_LOCATOR.substitute(
                locator=backend.ROW_LOCATOR, replay_union=replayed
            ).split(";"):
                backend.execute(statement)
        else:
            backend.execute(_TOUCHED_STATE.substitute(replay_union=replayed))
        backend.execute(_AFFECTED.substitute(replay_union=replay_union))
        stats = backend.fetchone(
            "SELECT count(*), count(*) FILTER (WHERE path = 'recompute'),"
            " coalesce(sum(new_events) FILTER (WHERE was_in_view), 0) FROM affected"
        )
        assert stats is not None
        shipments, late, new_in_view = (int(v) for v in stats)
        backend.execute(f"CREATE OR REPLACE TEMP TABLE computed AS {_CONTINUED}")
        if late:
            # Only late, replayed or returning shipments read history; an in-order
            # run never scans shipment_events beyond its new events.
            backend.execute(
                "CREATE OR REPLACE TEMP TABLE recomputed AS"
                " SELECT shipment_id FROM affected WHERE path = 'recompute'"
            )
            backend.execute(f"INSERT INTO computed {_RECOMPUTED}", [upto])
        joined_rows = int(
            backend.scalar(
                "SELECT count(*) FROM computed WHERE shipment_id IN"
                " (SELECT shipment_id FROM affected WHERE NOT was_in_view)"
            )
        )
        rows_written = _write(backend, batch_id)
        events = int(backend.scalar("SELECT count(*) FROM new_events"))
        view_rows = checkpoint.view_rows + new_in_view + joined_rows
        write_checkpoint(
            backend,
            replace(
                checkpoint,
                last_ingest_seq=upto,
                last_processed_timestamp=backend.scalar(
                    "SELECT max(event_timestamp) FROM new_events"
                )
                or checkpoint.last_processed_timestamp,
                last_update_time=datetime.now(UTC),
                process_type="incremental",
                status="completed",
                view_rows=view_rows,
            ),
        )
        result = RunResult(
            process_type="incremental",
            events=events,
            shipments_affected=shipments,
            rows_written=rows_written,
            full_recompute_rows=view_rows,
            from_ingest_seq=since,
            to_ingest_seq=upto,
            duration_ms=(time.perf_counter() - started) * 1000,
            late_shipments=late,
            run_id=batch_id,
        )
        record_run(backend, result)
        for table in (
            "new_events",
            "touched_rows",
            "touched_state",
            "affected",
            "recomputed",
            "computed",
        ):
            backend.execute(f"DROP TABLE IF EXISTS {table}")
        if replay_from is not None:
            backend.execute("DROP TABLE IF EXISTS replayed")
    return result


def _write(backend: Backend, batch_id: str) -> int:
    """Supersede the computed rows in the incremental table and move the state."""
    backend.execute(
        "DELETE FROM shipment_timeline_incremental AS i USING computed AS c"
        " WHERE i.shipment_id = c.shipment_id AND i.event_id = c.event_id"
    )
    backend.execute(
        f"INSERT INTO shipment_timeline_incremental SELECT {columns(TIMELINE_COLUMNS)},"
        f" current_timestamp, 'incremental', ?, current_timestamp FROM computed",
        [batch_id],
    )
    if backend.ROW_LOCATOR:
        backend.execute(
            f"DELETE FROM shipment_state WHERE {backend.ROW_LOCATOR} IN"
            " (SELECT state_row FROM touched_state)"
        )
    else:
        backend.execute(
            "DELETE FROM shipment_state WHERE shipment_id IN (SELECT shipment_id FROM affected)"
        )
    backend.execute(
        f"INSERT INTO shipment_state SELECT {columns(STATE_COLUMNS)}, true"
        f" FROM computed WHERE next_event_timestamp IS NULL"
    )
    return int(backend.scalar("SELECT count(*) FROM computed"))
