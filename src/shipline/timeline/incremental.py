"""Incremental runs: keep the real-time view exact at the cost of the new events.

Each shipment touched by new events (``ingest_seq`` past the checkpoint) takes one
of three paths:

* ``new``: no state yet, so every event it has is new; computed whole from them.
* ``append``: all its new events sort after its last row. The timeline continues
  from ``shipment_state`` (the last row) without reading history, and the old last
  row is rewritten, because a successor changes its ``next_event_timestamp`` and
  ``status_duration``.
* ``recompute``: a late event sorts before its last row, it is outside the view, a
  replay asked for it, it was held and is retried, or one of its events was revised
  or retracted. It is recomputed from its whole history (each event's current
  revision), and the rows from the predecessor of its earliest new event onward are
  rewritten; a revised, replayed or retried shipment has all its rows rewritten,
  and the rows of events that left it (retracted, or moved) are deleted.

Output rows, state and checkpoint commit in one transaction, so a crash at any
point loses and duplicates nothing. A run that fails on a shipment's data holds
that shipment and commits the others (``timeline.holds``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from shipline.store import Backend
from shipline.timeline.facts import appended_facts, dwell_of, dwell_parts, facts_of
from shipline.timeline.holds import (
    RolledBack,
    excluding,
    isolate_failures,
    record_holds,
    release_retried,
)
from shipline.timeline.predict import predict_touched
from shipline.timeline.runs import (
    TIMELINE_LOCK,
    ReplaySelection,
    RunPlan,
    RunResult,
    max_ingest_seq,
    read_checkpoint,
    record_run,
    write_checkpoint,
)
from shipline.timeline.sql import (
    CURRENT,
    EVENT_COLUMNS,
    STATE_COLUMNS,
    TIMELINE_COLUMNS,
    columns,
    timeline_rows,
    whole_shipments,
)

_NEW_EVENTS = f"""
CREATE OR REPLACE TEMP TABLE new_events AS
SELECT {columns(EVENT_COLUMNS, "e.")} FROM shipment_events AS e
WHERE e.ingest_seq > ? AND e.ingest_seq <= ? AND {CURRENT}
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS h WHERE h.shipment_id = e.shipment_id)
"""

# The stored records a replay selects, as of ingest_seq ``?``: every one ingested or
# timestamped at or after its time (``?``, given twice). Without a replay the times
# are NULL, and no record is selected by them.
_REPLAYED = """
FROM shipment_events AS e
WHERE e.ingest_seq <= ?
  AND (e.ingested_at >= CAST(? AS TIMESTAMPTZ) OR e.event_timestamp >= CAST(? AS TIMESTAMPTZ))
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS x WHERE x.shipment_id = e.shipment_id)
"""

# Why: how many of those records, and of their shipments, each of the two times selects
# (the replay's time given four times, then _REPLAYED's parameters).
_REPLAY_SELECTION = f"""
SELECT count(DISTINCT e.shipment_id), count(*),
    count(DISTINCT CASE WHEN e.ingested_at >= CAST(? AS TIMESTAMPTZ) THEN e.shipment_id END),
    sum(CASE WHEN e.ingested_at >= CAST(? AS TIMESTAMPTZ) THEN 1 ELSE 0 END),
    count(DISTINCT CASE WHEN e.event_timestamp >= CAST(? AS TIMESTAMPTZ) THEN e.shipment_id END),
    sum(CASE WHEN e.event_timestamp >= CAST(? AS TIMESTAMPTZ) THEN 1 ELSE 0 END)
{_REPLAYED}
"""

# Shipments recomputed whole whatever their new events: those a replay selects, held
# ones being retried, and those with a record superseded since the checkpoint (a
# revision or a retraction).
_FORCED = f"""
CREATE OR REPLACE TEMP TABLE forced AS
SELECT DISTINCT e.shipment_id {_REPLAYED}
UNION
SELECT h.shipment_id FROM shipment_holds AS h
WHERE (h.retry OR h.shipment_id IN (SELECT shipment_id FROM new_events))
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS x WHERE x.shipment_id = h.shipment_id)
UNION
SELECT s.shipment_id FROM superseded_events AS s
WHERE s.superseded_by > ? AND s.superseded_by <= ?
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS x WHERE x.shipment_id = s.shipment_id)
"""

# Events that left a revised shipment (retracted, or revised into another shipment):
# their rows must go, in the incremental table and in the base alike.
_DEPARTED = """
CREATE OR REPLACE TEMP TABLE departed AS
SELECT DISTINCT s.shipment_id, s.event_id FROM superseded_events AS s
WHERE s.superseded_by > ? AND s.superseded_by <= ?
  AND s.shipment_id IN (SELECT shipment_id FROM affected)
  AND NOT EXISTS (
    SELECT 1 FROM computed AS c WHERE c.shipment_id = s.shipment_id AND c.event_id = s.event_id
  )
"""

_TOUCHED = """
CREATE OR REPLACE TEMP TABLE touched AS
SELECT DISTINCT shipment_id FROM new_events
UNION SELECT shipment_id FROM forced
"""

_AFFECTED = """
CREATE OR REPLACE TEMP TABLE affected AS
WITH touched_once AS (
    SELECT t.shipment_id, coalesce(n.new_events, 0) AS new_events,
        n.first_new_timestamp, f.shipment_id IS NOT NULL AS forced
    FROM touched AS t
    LEFT JOIN (
        SELECT shipment_id, count(*) AS new_events, min(event_timestamp) AS first_new_timestamp
        FROM new_events GROUP BY shipment_id
    ) AS n ON n.shipment_id = t.shipment_id
    LEFT JOIN forced AS f ON f.shipment_id = t.shipment_id
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
    t.forced,
    coalesce(s.in_view, false) AS was_in_view,
    CASE
        WHEN s.shipment_id IS NULL AND NOT t.forced THEN 'new'
        WHEN t.forced OR NOT s.in_view OR t.shipment_id IN (SELECT shipment_id FROM late)
            THEN 'recompute'
        ELSE 'append'
    END AS path
FROM touched_once AS t
LEFT JOIN touched_state AS s ON s.shipment_id = t.shipment_id
"""

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

_PREDECESSOR_COLUMNS = ", ".join(
    "a.first_new_timestamp AS next_event_timestamp"
    if name == "next_event_timestamp"
    else "a.first_new_timestamp - s.event_timestamp AS status_duration"
    if name == "status_duration"
    else f"s.{name}"
    for name in TIMELINE_COLUMNS
)

_CONTINUED = f"""
CREATE OR REPLACE TEMP TABLE computed AS
SELECT {columns(TIMELINE_COLUMNS)} FROM ({timeline_rows(_SEEDED_EVENTS)}) AS continued
"""

# An appended shipment's old last row, rewritten for its new successor.
_PREDECESSORS = f"""
INSERT INTO computed
SELECT {_PREDECESSOR_COLUMNS}
FROM touched_state AS s JOIN affected AS a ON a.shipment_id = s.shipment_id
WHERE a.path = 'append'
"""

_RECOMPUTED_SCOPE = """
CREATE OR REPLACE TEMP TABLE recomputed AS
SELECT shipment_id FROM affected WHERE path = 'recompute'
"""

# Rows before the predecessor of the earliest new event are unchanged; rewriting
# them would cost without changing the view.
_REWRITTEN = """
a.forced OR NOT a.was_in_view
OR coalesce(r.next_event_timestamp, r.event_timestamp) >= a.first_new_timestamp
"""

# Every row of the recomputed shipments: the rewritten ones go to ``computed``, and
# all of them give the shipments' facts and dwell (``timeline.facts``).
_RECOMPUTED_ROWS = f"""
CREATE OR REPLACE TEMP TABLE recomputed_rows AS
{timeline_rows(whole_shipments("recomputed", "recomputed_events"))}
"""

_RECOMPUTED = f"""
INSERT INTO computed
SELECT {columns(TIMELINE_COLUMNS, "r.")}
FROM recomputed_rows AS r
JOIN affected AS a ON a.shipment_id = r.shipment_id
WHERE {_REWRITTEN}
"""

# Each followed row of a new or appended shipment adds its time to its successor to
# its location's dwell; an appended shipment's old last row is now followed.
_FOLLOWED_ROWS = """
(SELECT c.* FROM computed AS c JOIN affected AS a ON a.shipment_id = c.shipment_id
WHERE a.path IN ('new', 'append'))
"""

_STORED_DWELL = """
SELECT d.shipment_id, d.location_id, d.dwell_us
FROM touched_dwell AS d JOIN affected AS a ON a.shipment_id = d.shipment_id
WHERE a.path = 'append'
"""

_PLANNED_RECOMPUTED = f"""
SELECT count(*) FROM ({timeline_rows(whole_shipments("recomputed", "recomputed_events"))}) AS r
JOIN affected AS a ON a.shipment_id = r.shipment_id
WHERE {_REWRITTEN}
"""

_LAST_COMPUTED = "(SELECT * FROM computed WHERE next_event_timestamp IS NULL)"

_SCRATCH = (
    "new_events",
    "forced",
    "touched",
    "affected",
    "recomputed",
    "recomputed_events",
    "computed",
    "departed",
    "recomputed_rows",
    "touched_dwell",
    "computed_facts",
    "computed_dwell",
)


def run_incremental(backend: Backend, *, replay_from: datetime | None = None) -> RunResult:
    """Process every event accepted since the checkpoint (and, with ``replay_from``,
    every event ingested or timestamped at or after it, again).

    A shipment whose data makes the run fail is held, and the others commit.
    """
    return isolate_failures(
        backend,
        "incremental",
        candidates=lambda: _candidates(backend, replay_from),
        attempt=lambda excluded, commit: _run(backend, replay_from, excluded, commit),
    )


def _candidates(backend: Backend, replay_from: datetime | None) -> list[str]:
    """The shipments a run would touch now: the ones to search for a failing one."""
    since, upto = read_checkpoint(backend).last_ingest_seq, max_ingest_seq(backend)
    rows = backend.fetchall(
        "SELECT DISTINCT shipment_id FROM shipment_events"
        " WHERE (ingest_seq > ? AND ingest_seq <= ?) OR (ingest_seq <= ?"
        " AND (ingested_at >= CAST(? AS TIMESTAMPTZ) OR event_timestamp >= CAST(? AS TIMESTAMPTZ)))"
        " UNION SELECT shipment_id FROM shipment_holds WHERE retry"
        " UNION SELECT shipment_id FROM superseded_events"
        " WHERE superseded_by > ? AND superseded_by <= ? ORDER BY 1",
        [since, upto, upto, replay_from, replay_from, since, upto],
    )
    return [str(row[0]) for row in rows]


def _run(
    backend: Backend, replay_from: datetime | None, excluded: Mapping[str, str], commit: bool
) -> RunResult:
    """One run over every touched shipment but ``excluded``, which are held (when
    ``commit``) or left out of a trial (when not: the run then rolls back)."""
    started = time.perf_counter()
    batch_id = str(uuid.uuid4())
    with backend.transaction():
        backend.lock(TIMELINE_LOCK)
        checkpoint = read_checkpoint(backend)
        since, upto = checkpoint.last_ingest_seq, max_ingest_seq(backend)
        if upto <= since and replay_from is None and not excluded and not _retries(backend):
            return RunResult("incremental", 0, 0, 0, checkpoint.view_rows, since, since, 0.0)
        shipments, late = _select(backend, replay_from, since, upto)
        replay = _replay_selection(backend, replay_from, upto)
        backend.execute(_CONTINUED)
        # The facts of the new and appended shipments' new rows, before their old
        # last rows join them (timeline.facts).
        backend.execute(f"CREATE OR REPLACE TEMP TABLE computed_facts AS {facts_of('computed')}")
        backend.execute(_PREDECESSORS)
        if late:
            # Only late, replayed, retried or returning shipments read history; an
            # in-order run never scans shipment_events beyond its new events.
            _select_recomputed(backend)
            backend.execute(_RECOMPUTED_ROWS, [upto, upto])
            backend.execute(_RECOMPUTED)
        _keep_facts(backend, recomputed=late > 0)
        view_rows = checkpoint.view_rows + _view_rows_change(backend)
        backend.execute(_DEPARTED, [since, upto])
        rows_written = _write(backend, batch_id)
        # The touched shipments' predictions, from their new last rows (O(k)).
        predict_touched(backend, "affected", _LAST_COMPUTED)
        release_retried(backend)
        if commit:
            record_holds(backend, excluded, "incremental")
        events = int(backend.scalar("SELECT count(*) FROM new_events"))
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
            held_shipments=len(excluded) if commit else 0,
            replay=replay,
        )
        record_run(backend, result)
        for table in (*_SCRATCH, "touched_state"):
            backend.execute(f"DROP TABLE IF EXISTS {table}")
        if not commit:
            raise RolledBack(result)
    return result


def _select(
    backend: Backend, replay_from: datetime | None, since: int, upto: int
) -> tuple[int, int]:
    """Select what a run over ingest_seq ``since`` .. ``upto`` touches (the tables
    ``new_events``, ``forced``, ``touched``, ``touched_state`` and ``affected``, each
    shipment with its path); how many shipments, and how many are recomputed."""
    backend.execute(_NEW_EVENTS, [since, upto, upto])
    backend.execute(_FORCED, [upto, replay_from, replay_from, since, upto])
    backend.execute(_TOUCHED)
    # The state rows of the touched shipments, read once: shipment_state holds every
    # shipment, so each further join against it would cost a scan. The backend finds
    # them its own way (on DuckDB, scanning one column), and deletes them in _write.
    backend.select_rows_of("shipment_state", "shipment_id", "touched", into="touched_state")
    backend.execute(_AFFECTED)
    stats = backend.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE path = 'recompute') FROM affected"
    )
    shipments, recomputed = (int(v) for v in stats or (0, 0))
    return shipments, recomputed


def _select_recomputed(backend: Backend) -> None:
    """The recomputed shipments (``recomputed``) and their stored records
    (``recomputed_events``), found as ``select_rows_of`` finds rows: on DuckDB by one
    column, not a scan of every column of every stored event (0.48 s a run at 10M)."""
    backend.execute(_RECOMPUTED_SCOPE)
    backend.select_rows_of("shipment_events", "shipment_id", "recomputed", into="recomputed_events")


def _replay_selection(
    backend: Backend, replay_from: datetime | None, upto: int
) -> ReplaySelection | None:
    """What the replay selects, by which of its two rules; None without a replay."""
    if replay_from is None:
        return None
    found = (
        backend.fetchone(_REPLAY_SELECTION, [*[replay_from] * 4, upto, replay_from, replay_from])
        or (0,) * 6
    )
    # The query's columns are the selection's counts, in its fields' order.
    return ReplaySelection(replay_from, *(int(value or 0) for value in found))


def plan_incremental(backend: Backend, *, replay_from: datetime | None = None) -> RunPlan:
    """What ``run_incremental`` would do now (shipments, rows, and what a replay
    selects), from the run's own selection; nothing is written."""
    started = time.perf_counter()
    with backend.transaction(), excluding(backend, []):
        checkpoint = read_checkpoint(backend)
        since, upto = checkpoint.last_ingest_seq, max_ingest_seq(backend)
        shipments, recomputed = _select(backend, replay_from, since, upto)
        replay = _replay_selection(backend, replay_from, upto)
        # The rows _CONTINUED and _PREDECESSORS write: each new event, and an
        # appended shipment's old last row; then those _RECOMPUTED keeps.
        continued = backend.scalar(
            "SELECT coalesce(sum(new_events + CASE WHEN path = 'append' THEN 1 ELSE 0 END), 0)"
            " FROM affected WHERE path IN ('new', 'append')"
        )
        rows = int(continued or 0)
        if recomputed:
            _select_recomputed(backend)
            rows += int(backend.scalar(_PLANNED_RECOMPUTED, [upto, upto]) or 0)
        events = int(backend.scalar("SELECT count(*) FROM new_events"))
        for table in (*_SCRATCH, "touched_state"):
            backend.execute(f"DROP TABLE IF EXISTS {table}")
    return RunPlan(
        process_type="incremental",
        events=events,
        shipments=shipments,
        rows=rows,
        view_rows=checkpoint.view_rows,
        from_ingest_seq=since,
        to_ingest_seq=upto,
        recomputed_shipments=recomputed,
        replay=replay,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _keep_facts(backend: Backend, *, recomputed: bool) -> None:
    """The recomputed shipments' facts (added to ``computed_facts``, which holds
    the new rows' facts of the others, to combine with an appended one's stored
    facts), and every affected shipment's dwell (``computed_dwell``, whole)."""
    backend.select_rows_of("shipment_dwell", "shipment_id", "affected", into="touched_dwell")
    dwell = [_STORED_DWELL, dwell_parts(_FOLLOWED_ROWS)]
    if recomputed:
        backend.execute(f"INSERT INTO computed_facts {facts_of('recomputed_rows')}")
        dwell.append(dwell_parts("recomputed_rows"))
    backend.execute(
        f"CREATE OR REPLACE TEMP TABLE computed_dwell AS {dwell_of(' UNION ALL '.join(dwell))}"
    )


def _view_rows_change(backend: Backend) -> int:
    """How many rows the view gains (or loses, when events are retracted): each
    affected shipment's new row count, less the rows it had in the view.

    A shipment's row count is its last row's ``event_sequence``; every affected
    shipment's last row is among the computed rows, unless it has no events left.
    """
    new = backend.scalar(
        "SELECT coalesce(sum(rows), 0) FROM (SELECT max(event_sequence) AS rows"
        " FROM computed GROUP BY shipment_id) AS counted"
    )
    old = backend.scalar(
        "SELECT coalesce(sum(event_sequence), 0) FROM touched_state WHERE in_view"
        " AND shipment_id IN (SELECT shipment_id FROM affected)"
    )
    return int(new or 0) - int(old or 0)


def _retries(backend: Backend) -> bool:
    return bool(backend.scalar("SELECT count(*) FROM shipment_holds WHERE retry"))


def _write(backend: Backend, batch_id: str) -> int:
    """Supersede the computed rows in the incremental table and move the state."""
    backend.execute(
        "DELETE FROM shipment_timeline_incremental AS i USING computed AS c"
        " WHERE i.shipment_id = c.shipment_id AND i.event_id = c.event_id"
    )
    if backend.scalar("SELECT count(*) FROM departed"):
        for table in ("shipment_timeline_incremental", "shipment_timeline_base"):
            backend.execute(
                f"DELETE FROM {table} AS t USING departed AS d"
                " WHERE t.shipment_id = d.shipment_id AND t.event_id = d.event_id"
            )
    backend.execute(
        f"INSERT INTO shipment_timeline_incremental SELECT {columns(TIMELINE_COLUMNS)},"
        f" current_timestamp, 'incremental', ?, current_timestamp FROM computed",
        [batch_id],
    )
    backend.delete_rows_of("shipment_state", "shipment_id", "affected", selected="touched_state")
    backend.execute(
        f"INSERT INTO shipment_state SELECT {columns(STATE_COLUMNS, 'c.')}, true,"
        f" {appended_facts('o', 'f')}"
        " FROM computed AS c JOIN affected AS a ON a.shipment_id = c.shipment_id"
        " LEFT JOIN computed_facts AS f ON f.shipment_id = c.shipment_id"
        " LEFT JOIN touched_state AS o ON o.shipment_id = c.shipment_id AND a.path = 'append'"
        " WHERE c.next_event_timestamp IS NULL"
    )
    backend.delete_rows_of("shipment_dwell", "shipment_id", "affected", selected="touched_dwell")
    backend.execute(
        "INSERT INTO shipment_dwell SELECT shipment_id, location_id, dwell_us FROM computed_dwell"
    )
    return int(backend.scalar("SELECT count(*) FROM computed"))
