"""The daily base run: a full recompute of every recently active shipment.

It covers each shipment whose latest event is at or after D - lookback, over its
whole history (cumulative figures need the first event), replaces the base in one
transaction, folds and clears the incremental rows, refreshes ``shipment_state``
and moves the checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from shipline.store import Backend
from shipline.timeline.holds import RolledBack, isolate_failures, record_holds
from shipline.timeline.runs import (
    TIMELINE_LOCK,
    Checkpoint,
    RunResult,
    max_ingest_seq,
    read_checkpoint,
    record_run,
    write_checkpoint,
)
from shipline.timeline.sql import (
    STATE_COLUMNS,
    TIMELINE_COLUMNS,
    columns,
    timeline_rows,
    whole_shipments,
)


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
        candidates=lambda: _candidates(backend, cutoff, rebuild),
        attempt=lambda excluded, commit: _run(backend, as_of, cutoff, rebuild, excluded, commit),
    )


_SCOPE = """
CREATE OR REPLACE TEMP TABLE base_scope AS
SELECT e.shipment_id, count(*) AS events FROM shipment_events AS e
WHERE e.ingest_seq <= ?
  AND NOT EXISTS (SELECT 1 FROM run_excluded AS x WHERE x.shipment_id = e.shipment_id)
  AND NOT EXISTS (SELECT 1 FROM shipment_holds AS h WHERE h.shipment_id = e.shipment_id)
GROUP BY e.shipment_id HAVING max(e.event_timestamp) >= ?
"""


def _candidates(backend: Backend, cutoff: datetime, rebuild: bool) -> list[str]:
    """The shipments a base run computes: the base scope, and those with no state
    (every shipment, on a rebuild)."""
    rows = backend.fetchall(
        "SELECT shipment_id FROM shipment_events GROUP BY shipment_id"
        " HAVING ? OR max(event_timestamp) >= ?"
        " UNION SELECT DISTINCT e.shipment_id FROM shipment_events AS e"
        " WHERE NOT EXISTS (SELECT 1 FROM shipment_state AS s WHERE s.shipment_id = e.shipment_id)"
        " ORDER BY 1",
        [rebuild, cutoff],
    )
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
        if rebuild:
            backend.execute("DELETE FROM shipment_state")
        backend.execute(_SCOPE, [upto, cutoff])
        backend.execute("DELETE FROM shipment_timeline_base")
        backend.execute(
            f"INSERT INTO shipment_timeline_base SELECT {columns(TIMELINE_COLUMNS)},"
            f" current_timestamp, 'daily_base'"
            f" FROM ({timeline_rows(whole_shipments('base_scope'))}) AS computed",
            [upto],
        )
        backend.execute("DELETE FROM shipment_timeline_incremental")
        _refresh_state(backend, upto)
        if commit:
            record_holds(backend, excluded, "daily_base")
        rows = int(backend.scalar("SELECT coalesce(sum(events), 0) FROM base_scope"))
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
                view_rows=rows,
            ),
        )
        result = RunResult(
            process_type="daily_base",
            events=upto - previous.last_ingest_seq,
            shipments_affected=shipments,
            rows_written=rows,
            full_recompute_rows=rows,
            from_ingest_seq=previous.last_ingest_seq,
            to_ingest_seq=upto,
            duration_ms=(time.perf_counter() - started) * 1000,
            held_shipments=len(excluded) if commit else 0,
        )
        record_run(backend, result)
        backend.execute("DROP TABLE base_scope")
        if not commit:
            raise RolledBack(result)
    backend.refresh_statistics(
        [
            "shipment_events",
            "shipment_timeline_base",
            "shipment_timeline_incremental",
            "shipment_state",
        ]
    )
    return result


def _refresh_state(backend: Backend, upto: int) -> None:
    """Make ``shipment_state`` hold the last row of every shipment seen so far.

    Base shipments take their last base row. Shipments outside the base keep their
    state (nothing new happened to them), except those that never had one, such as
    old shipments on the first run, which are computed here once.
    """
    backend.execute("UPDATE shipment_state SET in_view = false WHERE in_view")
    backend.execute(
        "DELETE FROM shipment_state WHERE shipment_id IN (SELECT shipment_id FROM base_scope)"
    )
    backend.execute(
        f"INSERT INTO shipment_state SELECT {columns(STATE_COLUMNS)}, true"
        f" FROM shipment_timeline_base WHERE next_event_timestamp IS NULL"
    )
    backend.execute(
        "CREATE OR REPLACE TEMP TABLE stateless AS SELECT DISTINCT e.shipment_id"
        " FROM shipment_events AS e WHERE e.ingest_seq <= ?"
        " AND NOT EXISTS (SELECT 1 FROM shipment_state AS s WHERE s.shipment_id = e.shipment_id)"
        " AND NOT EXISTS (SELECT 1 FROM run_excluded AS x WHERE x.shipment_id = e.shipment_id)"
        " AND NOT EXISTS (SELECT 1 FROM shipment_holds AS h WHERE h.shipment_id = e.shipment_id)",
        [upto],
    )
    backend.execute(
        f"INSERT INTO shipment_state SELECT {columns(STATE_COLUMNS)}, false"
        f" FROM ({timeline_rows(whole_shipments('stateless'))}) AS computed"
        f" WHERE next_event_timestamp IS NULL",
        [upto],
    )
    backend.execute("DROP TABLE stateless")
