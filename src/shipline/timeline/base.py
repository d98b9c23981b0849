"""The daily base run: a full recompute of every recently active shipment.

It covers each shipment whose latest event is at or after D - lookback, and every
shipment that changed since the last base (incremental rows, pending or revised
events, out of the view), over its whole history (cumulative figures need the
first event). It replaces those shipments' base rows in one transaction, folds and
clears the incremental rows, refreshes their ``shipment_state`` and moves the
checkpoint. Every other shipment keeps its base rows: frozen, and exact, since
nothing changed them, until retention removes it (``timeline.retention``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from shipline.store import Backend
from shipline.timeline.facts import FACT_COLUMNS, dwell_of, dwell_parts, facts_of
from shipline.timeline.holds import RolledBack, excluding, isolate_failures, record_holds
from shipline.timeline.predict import train
from shipline.timeline.runs import (
    TIMELINE_LOCK,
    Checkpoint,
    RunPlan,
    RunResult,
    max_ingest_seq,
    read_checkpoint,
    record_run,
    write_checkpoint,
)
from shipline.timeline.sql import (
    CURRENT,
    STATE_COLUMNS,
    TIMELINE_COLUMNS,
    columns,
    timeline_rows,
    whole_shipments,
)
from shipline.timeline.stuck import learn_thresholds


def base_cutoff(as_of: date, lookback_days: int) -> datetime:
    """Shipments whose latest event is at or after this instant are in the base."""
    return datetime.combine(as_of, clock.min, tzinfo=UTC) - timedelta(days=lookback_days)


def run_base(
    backend: Backend, *, as_of: date, lookback_days: int, rebuild: bool = False
) -> RunResult:
    """Recompute the base for ``as_of``; ``rebuild`` also recomputes every shipment's state.

    Held shipments stay out of it (they leave the view until a retry brings them
    back), and a shipment whose data makes the run fail is held.
    """
    cutoff = base_cutoff(as_of, lookback_days)
    return isolate_failures(
        backend,
        "daily_base",
        candidates=lambda: _candidates(
            backend, read_checkpoint(backend).last_ingest_seq, cutoff, rebuild
        ),
        attempt=lambda excluded, commit: _run(backend, as_of, cutoff, rebuild, excluded, commit),
    )


# Shipments that changed since the last base, whatever their age: rows in the
# incremental table, state out of the view, events not yet processed, or records
# revised or retracted since the checkpoint.
_CHANGED = """
CREATE OR REPLACE TEMP TABLE base_changed AS
SELECT DISTINCT shipment_id FROM shipment_timeline_incremental
UNION SELECT shipment_id FROM shipment_state WHERE NOT in_view
UNION SELECT shipment_id FROM shipment_events WHERE ingest_seq > ? AND ingest_seq <= ?
UNION SELECT shipment_id FROM superseded_events WHERE superseded_by > ? AND superseded_by <= ?
"""

_SCOPE = f"""
CREATE OR REPLACE TEMP TABLE base_scope AS
SELECT e.shipment_id, count(*) AS events FROM shipment_events AS e
WHERE e.ingest_seq <= ? AND {CURRENT}
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS h WHERE h.shipment_id = e.shipment_id)
  AND NOT EXISTS (SELECT 1 FROM shipment_holds AS h WHERE h.shipment_id = e.shipment_id)
GROUP BY e.shipment_id
HAVING ? OR max(e.event_timestamp) >= ?
    OR e.shipment_id IN (SELECT shipment_id FROM base_changed)
"""

# The shipments whose base rows go: the recomputed ones, the changed ones (a shipment
# whose events were all retracted has none left) and the held ones.
_REPLACED = """
SELECT shipment_id FROM base_scope UNION SELECT shipment_id FROM base_changed
UNION SELECT shipment_id FROM shipment_holds UNION SELECT shipment_id FROM run_excluded
"""

_SCOPE_ROWS = (
    "(SELECT * FROM shipment_timeline_base"
    " WHERE shipment_id IN (SELECT shipment_id FROM base_scope))"
)
"""The recomputed shipments' new base rows."""


def plan_base(
    backend: Backend, *, as_of: date, lookback_days: int, rebuild: bool = False
) -> RunPlan:
    """What ``run_base`` would recompute now (shipments and rows), from the run's own
    selection; nothing is written."""
    started = time.perf_counter()
    cutoff = base_cutoff(as_of, lookback_days)
    with backend.transaction(), excluding(backend, []):
        checkpoint = read_checkpoint(backend)
        since, upto = checkpoint.last_ingest_seq, max_ingest_seq(backend)
        backend.execute(_CHANGED, [since, upto, since, upto])
        backend.execute(_SCOPE, [upto, upto, rebuild, cutoff])
        shipments, rows = backend.fetchone(
            "SELECT count(*), coalesce(sum(events), 0) FROM base_scope"
        ) or (0, 0)
        backend.execute("DROP TABLE base_scope")
        backend.execute("DROP TABLE base_changed")
    return RunPlan(
        process_type="daily_base",
        events=upto - since,
        shipments=int(shipments),
        rows=int(rows),
        view_rows=checkpoint.view_rows,
        from_ingest_seq=since,
        to_ingest_seq=upto,
        rebuild=rebuild,
        cutoff=cutoff,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _candidates(backend: Backend, since: int, cutoff: datetime, rebuild: bool) -> list[str]:
    """The shipments a base run computes: the recent and the changed ones (every
    shipment, on a rebuild)."""
    upto = max_ingest_seq(backend)
    with backend.transaction():
        backend.execute(_CHANGED, [since, upto, since, upto])
        rows = backend.fetchall(
            "SELECT shipment_id FROM shipment_events GROUP BY shipment_id"
            " HAVING ? OR max(event_timestamp) >= ?"
            " UNION SELECT shipment_id FROM base_changed ORDER BY 1",
            [rebuild, cutoff],
        )
        backend.execute("DROP TABLE base_changed")
    return [str(row[0]) for row in rows]


def _run(
    backend: Backend,
    as_of: date,
    cutoff: datetime,
    rebuild: bool,
    excluded: Mapping[str, str],
    commit: bool,
) -> RunResult:
    started = time.perf_counter()
    with backend.transaction():
        backend.lock(TIMELINE_LOCK)
        previous = read_checkpoint(backend)
        upto = max_ingest_seq(backend)
        since = previous.last_ingest_seq
        if rebuild:
            backend.execute("DELETE FROM shipment_state")
        backend.execute(_CHANGED, [since, upto, since, upto])
        backend.execute(_SCOPE, [upto, upto, rebuild, cutoff])
        backend.replace_rows_of(
            "shipment_timeline_base",
            "shipment_id",
            None if rebuild else _REPLACED,
            f"SELECT {columns(TIMELINE_COLUMNS)}, current_timestamp, 'daily_base'"
            f" FROM ({timeline_rows(whole_shipments('base_scope'))}) AS computed",
            [upto, upto],
        )
        backend.execute("DELETE FROM shipment_timeline_incremental")
        _refresh_state(backend)
        _refresh_dwell(backend, rebuild)
        train(backend)  # the nightly model, and every open shipment predicted by it
        learn_thresholds(backend)  # the usual gaps stuck shipments are judged by
        if commit:
            record_holds(backend, excluded, "daily_base")
        rows = int(backend.scalar("SELECT coalesce(sum(events), 0) FROM base_scope"))
        view_rows = int(backend.scalar("SELECT count(*) FROM shipment_timeline_base"))
        shipments = int(backend.scalar("SELECT count(*) FROM base_scope"))
        # Information only; held shipments' events are left out, since it is their
        # data (a timestamp no client can read, say) that made them fail.
        newest = backend.scalar(
            "SELECT max(e.event_timestamp) FROM shipment_events AS e WHERE e.ingest_seq <= ?"
            " AND NOT EXISTS (SELECT 1 FROM shipment_holds AS h"
            " WHERE h.shipment_id = e.shipment_id)"
            " AND NOT EXISTS (SELECT 1 FROM run_excluded AS x"
            " WHERE x.shipment_id = e.shipment_id)",
            [upto],
        )
        write_checkpoint(
            backend,
            Checkpoint(
                last_ingest_seq=upto,
                last_processed_timestamp=newest,
                last_update_time=datetime.now(UTC),
                process_type="daily_base",
                status="completed",
                base_date=as_of,
                view_rows=view_rows,
            ),
        )
        result = RunResult(
            process_type="daily_base",
            events=upto - previous.last_ingest_seq,
            shipments_affected=shipments,
            rows_written=rows,
            full_recompute_rows=view_rows,
            from_ingest_seq=previous.last_ingest_seq,
            to_ingest_seq=upto,
            duration_ms=(time.perf_counter() - started) * 1000,
            held_shipments=len(excluded) if commit else 0,
        )
        record_run(backend, result)
        backend.execute("DROP TABLE base_scope")
        backend.execute("DROP TABLE base_changed")
        if not commit:
            raise RolledBack(result)
    backend.refresh_statistics(
        [
            "shipment_events",
            "shipment_timeline_base",
            "shipment_timeline_incremental",
            "shipment_state",
            "shipment_dwell",
        ]
    )
    return result


def _refresh_state(backend: Backend) -> None:
    """Make ``shipment_state`` hold the last row of every shipment in the view.

    Recomputed shipments take their last base row; frozen ones keep theirs; held
    ones stay, out of the view; a changed shipment with no events left has none.
    """
    backend.execute(
        "DELETE FROM shipment_state WHERE shipment_id IN (SELECT shipment_id FROM base_scope"
        " UNION SELECT shipment_id FROM base_changed)"
    )
    backend.execute(f"CREATE OR REPLACE TEMP TABLE base_facts AS {facts_of(_SCOPE_ROWS)}")
    backend.execute(
        f"INSERT INTO shipment_state SELECT {columns(STATE_COLUMNS, 'b.')}, true,"
        f" {columns(FACT_COLUMNS, 'f.')}"
        f" FROM shipment_timeline_base AS b JOIN base_facts AS f ON f.shipment_id = b.shipment_id"
        f" WHERE b.next_event_timestamp IS NULL"
    )
    backend.execute("DROP TABLE base_facts")
    backend.execute(
        "UPDATE shipment_state SET in_view = false WHERE shipment_id IN"
        " (SELECT shipment_id FROM shipment_holds UNION SELECT shipment_id FROM run_excluded)"
    )


def _refresh_dwell(backend: Backend, rebuild: bool) -> None:
    """Replace the dwell of every shipment whose base rows were replaced."""
    backend.execute(_deleting("shipment_dwell", rebuild))
    backend.execute(f"INSERT INTO shipment_dwell {dwell_of(dwell_parts(_SCOPE_ROWS))}")


def _deleting(table: str, rebuild: bool) -> str:
    """The DELETE of a shipment table's rows a base replaces (all, on a rebuild)."""
    if rebuild:
        return f"DELETE FROM {table}"
    return f"DELETE FROM {table} WHERE shipment_id IN ({_REPLACED})"
