"""Duties that run once among several workers: the nightly base and the monitor.

The first worker to ask leads (a session-level advisory lock on PostgreSQL) until
it stops; then the next one that asks takes over.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from shipline.pipeline import Pipeline
from shipline.server.monitor_loop import MonitorLoop
from shipline.settings import Settings
from tests.api.conftest import wait_for
from tests.engines import POSTGRES_URL, fresh_database
from tests.store.startup_proxy import schema_of


def test_a_lone_worker_leads_and_keeps_leading(pipeline: Pipeline) -> None:
    assert pipeline.leads() and pipeline.leads()


@pytest.fixture
def two_workers() -> Iterator[tuple[str, Pipeline, Pipeline]]:
    """A PostgreSQL database and two pipelines over it, as two ``serve`` workers."""
    with (
        fresh_database("postgres") as database,
        Pipeline(Settings(database=database)) as first,
        Pipeline(Settings(database=database)) as second,
    ):
        yield database, first, second


@pytest.mark.postgres
def test_one_of_two_workers_leads_and_the_lead_passes_on_when_it_stops(
    two_workers: tuple[str, Pipeline, Pipeline],
) -> None:
    _, first, second = two_workers
    assert first.leads()
    assert not second.leads()
    assert first.leads(), "a leader keeps its lead"
    first.close()
    # The server lets go of the closed session's lock as it notices the close, a
    # moment after the client returns; the next worker leads from then on.
    wait_for(second.leads, timeout=10)


@pytest.mark.postgres
def test_a_leader_whose_lease_connection_is_lost_no_longer_leads(
    two_workers: tuple[str, Pipeline, Pipeline],
) -> None:
    database, first, second = two_workers
    assert first.leads()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        (pid,) = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid::text::bigint = (hashtext('shipline.leader')::bigint & 4294967295)"
            " AND classid::text::bigint = (hashtext(%s)::bigint & 4294967295)",
            [schema_of(database)],
        ).fetchone() or (None,)
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert second.leads(), "the lock went with the lost connection"
    assert not first.leads(), "two workers never lead at once"


@pytest.mark.postgres
def test_only_the_leading_worker_records_metrics_and_evaluates_alerts() -> None:
    with fresh_database("postgres") as database:
        settings = Settings(database=database, monitor_interval_seconds=3600)
        with Pipeline(settings) as leader, Pipeline(settings) as other:
            assert leader.leads()
            loops = [MonitorLoop(leader, 3600), MonitorLoop(other, 3600)]
            for loop in loops:
                loop.start()  # each ticks once at start
            for loop in loops:
                loop.stop()
            snapshots = leader.backend.scalar(
                "SELECT count(DISTINCT recorded_at) FROM monitor_metrics"
            )
            assert snapshots == 1
