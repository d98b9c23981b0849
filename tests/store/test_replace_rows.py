"""A base replaces the rows of the shipments it recomputes and keeps the others';
on DuckDB it does so by rewriting the table, which must keep what the table was:
its columns and constraints, its indexes, and the old rows for readers until commit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipline.errors import BackendError
from shipline.store import Backend, open_backend
from shipline.store.duckdb import DuckDBBackend
from tests.engines import ENGINES, fresh_database


@pytest.fixture(params=ENGINES)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with fresh_database(request.param) as database:
        opened = open_backend(database)
        opened.execute("CREATE TABLE rows_by_key (k VARCHAR NOT NULL, n INTEGER NOT NULL)")
        opened.execute("INSERT INTO rows_by_key VALUES ('a', 1), ('a', 2), ('b', 3), ('c', 4)")
        opened.execute("CREATE TABLE replaced_keys (k VARCHAR)")
        opened.execute("INSERT INTO replaced_keys VALUES ('a'), ('z')")
        yield opened
        opened.close()


def _rows(backend: Backend) -> list[tuple[object, ...]]:
    return backend.fetchall("SELECT k, n FROM rows_by_key ORDER BY k, n")


def _indexed_table(tmp_path: Path) -> DuckDBBackend:
    """A DuckDB file with an empty ``rows_by_key`` indexed by ``k``."""
    backend = DuckDBBackend(str(tmp_path / "rewrite.duckdb"))
    backend.execute("CREATE TABLE rows_by_key (k VARCHAR NOT NULL, n INTEGER NOT NULL)")
    backend.execute("CREATE INDEX rows_by_key_k ON rows_by_key (k)")
    return backend


def _table_oid(backend: Backend) -> int:
    """The catalog's id of ``rows_by_key``: a rewrite makes a new table."""
    return int(
        backend.scalar("SELECT table_oid FROM duckdb_tables() WHERE table_name = 'rows_by_key'")
    )


def test_the_replaced_keys_rows_give_way_to_the_new_ones_and_the_rest_stay(
    backend: Backend,
) -> None:
    with backend.transaction():
        backend.replace_rows_of(
            "rows_by_key",
            "k",
            "SELECT k FROM replaced_keys",
            "SELECT ?, 10 UNION ALL SELECT 'z', 11",
            ["a"],
        )
    assert _rows(backend) == [("a", 10), ("b", 3), ("c", 4), ("z", 11)]


def test_replacing_every_row_leaves_only_the_new_ones(backend: Backend) -> None:
    with backend.transaction():
        backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'd', 5")
    assert _rows(backend) == [("d", 5)]


def test_replacing_by_no_rows_deletes_the_replaced_keys_rows(backend: Backend) -> None:
    backend.replace_rows_of("rows_by_key", "k", "SELECT k AS gone FROM replaced_keys", None)
    assert _rows(backend) == [("b", 3), ("c", 4)]


def test_a_failed_transaction_leaves_the_table_as_it_was(backend: Backend) -> None:
    with pytest.raises(BackendError), backend.transaction():
        backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'd', 5")
        backend.execute("SELECT * FROM no_such_table")
    assert _rows(backend) == [("a", 1), ("a", 2), ("b", 3), ("c", 4)]


def test_the_rewritten_table_keeps_its_constraints_and_indexes(tmp_path: Path) -> None:
    backend = _indexed_table(tmp_path)
    backend.execute("INSERT INTO rows_by_key VALUES ('a', 1)")
    before = _table_oid(backend)
    with backend.transaction():
        backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'b', 2")
    assert _table_oid(backend) != before  # written anew
    assert backend.fetchall(
        "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'rows_by_key'"
    ) == [("rows_by_key_k",)]
    with pytest.raises(BackendError, match="NOT NULL"):
        backend.execute("INSERT INTO rows_by_key VALUES ('c', NULL)")
    assert backend.fetchall("SELECT k, n FROM rows_by_key") == [("b", 2)]
    backend.close()


def test_a_reader_beside_the_rewrite_sees_the_old_rows_until_it_commits(tmp_path: Path) -> None:
    backend = _indexed_table(tmp_path)
    backend.execute("INSERT INTO rows_by_key VALUES ('a', 1)")
    rewritten, read = threading.Event(), threading.Event()

    def rewrite() -> None:
        with backend.transaction():
            backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'a', 2")
            rewritten.set()
            read.wait(10)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        assert rewritten.wait(10)
        assert backend.fetchall("SELECT n FROM rows_by_key WHERE k = 'a'") == [(1,)]
    finally:
        read.set()
        writer.join()
    assert backend.fetchall("SELECT n FROM rows_by_key WHERE k = 'a'") == [(2,)]
    backend.close()


def test_a_few_rows_of_a_large_indexed_table_are_replaced_in_place(tmp_path: Path) -> None:
    backend = _indexed_table(tmp_path)
    backend.execute("INSERT INTO rows_by_key SELECT 'k' || i, i FROM range(1000) AS r(i)")
    before = _table_oid(backend)
    with backend.transaction():
        backend.replace_rows_of(
            "rows_by_key", "k", "SELECT 'k7' AS k", "SELECT 'k7', -7 UNION ALL SELECT 'new', 1"
        )
    assert backend.fetchall("SELECT n FROM rows_by_key WHERE k IN ('k7', 'new') ORDER BY n") == [
        (-7,),
        (1,),
    ]
    assert backend.scalar("SELECT count(*) FROM rows_by_key") == 1001
    assert _table_oid(backend) == before  # the same table, not a rewrite
    assert backend.fetchall("SELECT table_name FROM duckdb_tables()") == [("rows_by_key",)]
    assert backend.fetchall(
        "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'rows_by_key'"
    ) == [("rows_by_key_k",)]
    backend.close()


def test_a_failed_rewrite_outside_a_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    backend = _indexed_table(tmp_path)
    backend.execute("INSERT INTO rows_by_key VALUES ('a', 1)")
    with pytest.raises(BackendError, match="NOT NULL"):
        backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'b', NULL")
    backend.replace_rows_of("rows_by_key", "k", None, "SELECT 'b', 2")
    assert backend.fetchall("SELECT k, n FROM rows_by_key") == [("b", 2)]
    assert backend.fetchall("SELECT table_name FROM duckdb_tables()") == [("rows_by_key",)]
    backend.close()
