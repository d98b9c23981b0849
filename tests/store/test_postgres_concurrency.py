"""Several writers and processors on one PostgreSQL database (DESIGN section 5).

No event may be skipped however commits interleave: writers take turns from
numbering to commit, so ``ingest_seq`` follows commit order, and one incremental
pass runs at a time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from shipline.errors import TransientBackendError
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import POSTGRES_URL, fresh_database

pytestmark = [pytest.mark.postgres]

WRITERS, BATCHES, BATCH = 4, 15, 20


def batch(writer: int, number: int) -> list[dict[str, str]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "shipment_id": f"W{writer}-S{i % 7}",
            "event_timestamp": (start + timedelta(minutes=number * BATCH + i)).isoformat(),
            "event_type": "in_transit",
            "event_id": f"w{writer}-b{number}-e{i}",
        }
        for i in range(BATCH)
    ]


def test_concurrent_writers_and_processors_skip_nothing() -> None:
    with fresh_database("postgres") as database:
        Pipeline(Settings(database=database)).close()  # migrate once, up front
        done = threading.Event()
        failures: list[BaseException] = []

        def write(writer: int) -> None:
            try:
                with Pipeline(Settings(database=database)) as pipeline:
                    for number in range(BATCHES):
                        pipeline.ingest_records(batch(writer, number), f"writer-{writer}")
            except BaseException as error:
                failures.append(error)

        def process() -> None:
            try:
                with Pipeline(Settings(database=database)) as pipeline:
                    while not done.is_set():
                        pipeline.incremental()
            except BaseException as error:
                failures.append(error)

        writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        processors = [threading.Thread(target=process) for _ in range(2)]
        for thread in [*writers, *processors]:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        for thread in processors:
            thread.join()
        assert failures == []

        with Pipeline(Settings(database=database)) as pipeline:
            pipeline.incremental()
            total = WRITERS * BATCHES * BATCH
            sequences = [
                row[0]
                for row in pipeline.backend.fetchall(
                    "SELECT ingest_seq FROM shipment_events ORDER BY ingest_seq"
                )
            ]
            assert sequences == list(range(1, total + 1))
            assert (
                pipeline.backend.scalar("SELECT count(*) FROM shipment_timeline_realtime") == total
            )
            assert pipeline.status().pending_events == 0
            assert pipeline.verify().drift == 0
            # One pass at a time: each run took up exactly where the one before left off.
            ranges = pipeline.backend.fetchall(
                "SELECT from_ingest_seq, to_ingest_seq FROM processing_runs"
                " WHERE process_type = 'incremental' AND to_ingest_seq > from_ingest_seq"
                " ORDER BY from_ingest_seq"
            )
            assert [start for start, _ in ranges] == [0] + [end for _, end in ranges[:-1]]
            assert ranges[-1][1] == total


def test_a_long_transaction_in_one_thread_does_not_hold_up_reads_in_another() -> None:
    """An API worker's point queries go on while its processor runs a long base."""
    with fresh_database("postgres") as database, Pipeline(Settings(database=database)) as shared:
        shared.ingest_records(batch(0, 0), "writer")
        shared.incremental()
        in_transaction, release = threading.Event(), threading.Event()

        def hold() -> None:
            with shared.backend.transaction():
                shared.backend.lock("shipline.timeline")
                in_transaction.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert in_transaction.wait(10)
            answers: list[int] = []
            reader = threading.Thread(target=lambda: answers.append(len(shared.timeline("W0-S0"))))
            reader.start()
            reader.join(10)
            assert answers == [3], "the read waited for the other thread's transaction"
        finally:
            release.set()
            holder.join()


def test_shiplines_in_two_schemas_of_one_database_do_not_wait_on_each_other() -> None:
    with (
        fresh_database("postgres") as first,
        fresh_database("postgres") as second,
        Pipeline(Settings(database=first)) as holder,
        Pipeline(Settings(database=second)) as other,
    ):
        other.backend.execute("SET lock_timeout = '5s'")  # fail, rather than hang
        with holder.backend.transaction():
            holder.backend.lock("shipline.ingest")
            # The other shipline ingests while the first holds its lock.
            report = other.ingest_records(batch(0, 0), "other-schema")
        assert report.accepted == BATCH


def test_a_writer_that_cannot_get_its_turn_is_told_to_retry() -> None:
    with (
        fresh_database("postgres") as database,
        Pipeline(Settings(database=database)) as holder,
        Pipeline(Settings(database=database)) as waiting,
    ):
        waiting.backend.execute("SET lock_timeout = '200ms'")
        with holder.backend.transaction():
            holder.backend.lock("shipline.ingest")
            with pytest.raises(TransientBackendError, match="lock timeout"):
                waiting.ingest_records(batch(0, 0), "waiting")
        # Its turn comes once the holder commits, and the batch is stored.
        assert waiting.ingest_records(batch(0, 0), "waiting").accepted == BATCH


def test_a_connection_lost_between_calls_is_replaced_on_the_next_one() -> None:
    """After a server restart (here: its backend terminated), a long-lived thread goes on."""
    with fresh_database("postgres") as database, Pipeline(Settings(database=database)) as pipeline:
        pipeline.ingest_records(batch(0, 0), "before")
        pid = pipeline.backend.scalar("SELECT pg_backend_pid()")
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(TransientBackendError):
            pipeline.status()  # the call that finds the connection gone: retry it
        assert pipeline.ingest_records(batch(0, 1), "after").accepted == BATCH
        assert pipeline.backend.scalar("SELECT pg_backend_pid()") != pid
