"""A DuckDB file has one writer at a time, but queries do not wait for it: a point
query during a 30 s base run reads the last committed state at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa

from shipline.store.duckdb import DuckDBBackend


def _holding_a_transaction(
    backend: DuckDBBackend, inside: threading.Event, done: threading.Event
) -> threading.Thread:
    def hold() -> None:
        with backend.transaction():
            backend.execute("INSERT INTO t VALUES (2)")
            inside.set()
            done.wait(10)

    return threading.Thread(target=hold)


def test_a_query_reads_the_committed_state_while_another_thread_writes(tmp_path: Path) -> None:
    backend = DuckDBBackend(str(tmp_path / "reads.duckdb"))
    backend.execute("CREATE TABLE t (n INTEGER)")
    backend.execute("INSERT INTO t VALUES (1)")
    inside, done = threading.Event(), threading.Event()
    writer = _holding_a_transaction(backend, inside, done)
    writer.start()
    try:
        assert inside.wait(10)
        started = time.monotonic()
        assert backend.fetchall("SELECT n FROM t ORDER BY n") == [(1,)]  # not the uncommitted 2
        assert backend.fetch_dicts(
            "/* a comment */ WITH x AS (SELECT n FROM t) SELECT * FROM x"
        ) == [{"n": 1}]
        assert backend.fetch_arrow("SELECT count(*) AS n FROM t").column("n").to_pylist() == [1]
        assert time.monotonic() - started < 5  # it did not wait for the writer's 10 s
    finally:
        done.set()
        writer.join()
    assert backend.fetchall("SELECT n FROM t ORDER BY n") == [(1,), (2,)]
    backend.close()


def test_a_query_of_the_writers_own_tables_waits_for_the_writer(tmp_path: Path) -> None:
    """A registered Arrow table is the writer's connection's alone: a query of it
    cannot be read beside the writer, so it waits and then sees it."""
    backend = DuckDBBackend(str(tmp_path / "own.duckdb"))
    backend.execute("CREATE TABLE t (n INTEGER)")
    backend.register("incoming", pa.table({"n": [7]}))
    inside, done = threading.Event(), threading.Event()
    writer = _holding_a_transaction(backend, inside, done)
    writer.start()
    assert inside.wait(10)
    threading.Timer(0.3, done.set).start()
    started = time.monotonic()
    assert backend.fetchall("SELECT n FROM incoming") == [(7,)]
    assert time.monotonic() - started >= 0.2  # it waited for the writer's commit
    writer.join()
    backend.close()
