"""Loading files into warehouse tables: upserts, ledger, schema evolution, failures."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shipline.ingest.dead_letters import list_dead_letters
from shipline.loader import Loader, LocalSource, list_loads
from shipline.notify import FanOut, LogNotifier
from shipline.store import Backend
from tests.loader.conftest import columns, partition_path, snapshot, write_parquet


def items(order_ids: range, lines: int, qty: int, note: str = "n") -> list[dict[str, Any]]:
    return [
        {"order_id": f"O{o}", "line_number": n, "qty": qty + o + n, "note": f"{note}{o}"}
        for o in order_ids
        for n in range(1, lines + 1)
    ]


def reference_upsert(
    state: dict[tuple[Any, ...], dict[str, Any]], rows: list[dict[str, Any]], key: list[str]
) -> None:
    """The oracle: a dict keyed by the key columns; a later row replaces an earlier one."""
    for row in rows:
        state[tuple(row[k] for k in key)] = row


def table_as_dicts(backend: Backend, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = backend.fetch_dicts(f'SELECT * FROM "{table}"')
    return {(r["order_id"], r["line_number"]): r for r in rows}


def test_upserts_match_an_independent_reference(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    key = ["order_id", "line_number"]
    expected: dict[tuple[Any, ...], dict[str, Any]] = {}
    batches = [
        items(range(0, 50), 3, 1),
        items(range(40, 80), 2, 100, "u"),  # overlaps 40-49, fewer lines
        items(range(10, 12), 3, 7, "v") + items(range(10, 11), 3, 9, "w"),  # dup keys: last wins
    ]
    for seq, rows in enumerate(batches, 1):
        write_parquet(partition_path(landing, "order_items", "2025-11-13", seq, "parquet"), rows)
        reference_upsert(expected, rows, key)
    outcomes = loader.load_all(source)
    assert [o.status for o in outcomes] == ["loaded"] * 3
    assert outcomes[1].updated == 20 and outcomes[1].inserted == 60
    assert outcomes[2].rows == 6 and outcomes[2].updated == 6
    assert table_as_dicts(backend, "order_items") == expected
    assert backend.scalar('SELECT count(*) FROM "order_items"') == len(expected)


def test_same_file_twice_is_skipped_and_a_changed_file_loads_again(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    path = partition_path(landing, "order_summary", "2025-11-13", 1, "parquet")
    write_parquet(path, [{"order_id": "A", "total": 1.0}, {"order_id": "B", "total": 2.0}])
    first = loader.load_all(source)
    again = loader.load_all(source)
    assert [o.status for o in first] == ["loaded"]
    assert [o.status for o in again] == ["skipped"]
    write_parquet(path, [{"order_id": "A", "total": 5.0}])
    changed = loader.load_all(source)
    assert [(o.status, o.inserted, o.updated) for o in changed] == [("loaded", 0, 1)]
    assert snapshot(backend, "order_summary") == [("A", 5.0), ("B", 2.0)]
    ledger = list_loads(backend)
    assert [r["status"] for r in ledger] == ["loaded", "loaded"]
    assert ledger[0]["checksum"] != ledger[1]["checksum"]
    assert len(ledger[0]["checksum"]) == 64


def _failing_case(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path, bad: Path
) -> tuple[Any, Any]:
    """Load a good file, then ``bad``, then another good file; return the bad outcome."""
    good = [{"order_id": "O1", "line_number": 1, "qty": 1}]
    first = write_parquet(partition_path(landing, "order_items", "2025-11-12", 1, "parquet"), good)
    assert loader.load(source, source.describe(first)).status == "loaded"
    before = snapshot(backend, "order_items")
    before_columns = columns(backend, "order_items")
    outcomes = loader.load_all(source)
    (bad_outcome,) = [o for o in outcomes if o.status == "failed"]
    assert snapshot(backend, "order_items") == before
    assert columns(backend, "order_items") == before_columns
    assert not bad.exists()
    assert bad_outcome.quarantined_to is not None
    moved = Path(bad_outcome.quarantined_to)
    assert moved.is_file()
    assert moved.parts[-6] == "_quarantine"
    assert (landing / "_quarantine") in moved.parents
    assert Path(str(moved) + ".reason.txt").read_text().strip() == bad_outcome.error
    ledger = list_loads(backend, status="failed")
    assert ledger[0]["error"] == bad_outcome.error
    assert ledger[0]["quarantined_to"] == str(moved)
    letters = list_dead_letters(backend)
    assert letters[0]["source"] == "loader"
    assert letters[0]["reason"] == bad_outcome.error
    assert json.loads(letters[0]["payload"])["file_key"] == str(bad.resolve())
    # One bad file never blocks the next.
    nxt = partition_path(landing, "order_items", "2025-11-14", 1, "parquet")
    write_parquet(nxt, [{"order_id": "O9", "line_number": 1, "qty": 3}])
    assert [o.status for o in loader.load_all(source)] == ["skipped", "loaded"]
    return bad_outcome, letters


def test_corrupt_parquet_is_quarantined(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    bad = partition_path(landing, "order_items", "2025-11-13", 1, "parquet")
    bad.write_bytes(b"PAR1" + b"\x00" * 50)
    outcome, _ = _failing_case(backend, loader, source, landing, bad)
    assert "not a Parquet file" in outcome.error


def test_wrong_type_names_the_column_and_both_types(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    bad = partition_path(landing, "order_items", "2025-11-13", 1, "parquet")
    write_parquet(bad, [{"order_id": "O1", "line_number": 1, "qty": "two", "extra": 1}])
    outcome, _ = _failing_case(backend, loader, source, landing, bad)
    assert outcome.error.startswith(
        "column 'qty' is VARCHAR in the file but BIGINT in table order_items; fix the file"
    )


def test_missing_key_column_is_refused(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    bad = partition_path(landing, "order_items", "2025-11-13", 1, "parquet")
    write_parquet(bad, [{"order_id": "O1", "qty": 5}])
    outcome, _ = _failing_case(backend, loader, source, landing, bad)
    assert "key column(s) 'line_number' missing" in outcome.error


def test_empty_file_is_refused(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    bad = partition_path(landing, "order_items", "2025-11-13", 1, "csv")
    bad.write_text("order_id,line_number,qty\n")
    outcome, _ = _failing_case(backend, loader, source, landing, bad)
    assert "no rows" in outcome.error


def test_a_failure_after_the_delete_rolls_the_whole_file_back(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    """A NOT NULL column (added by hand) makes the INSERT fail after the DELETE ran."""
    bad = partition_path(landing, "order_items", "2025-11-13", 1, "parquet")
    write_parquet(bad, [{"order_id": "O1", "line_number": 1, "qty": None, "new_col": 1}])
    good = [{"order_id": "O1", "line_number": 1, "qty": 1}]
    first = partition_path(landing, "order_items", "2025-11-12", 1, "parquet")
    write_parquet(first, good)
    loader.load(source, source.describe(first))
    backend.execute("ALTER TABLE order_items ALTER COLUMN qty SET NOT NULL")
    before = snapshot(backend, "order_items")
    before_columns = columns(backend, "order_items")
    outcome = loader.load(source, source.describe(bad))
    assert outcome.status == "failed"
    assert "not null" in (outcome.error or "").replace("-", " ").lower()
    assert snapshot(backend, "order_items") == before
    assert columns(backend, "order_items") == before_columns  # new_col rolled back too


def test_schema_evolution_adds_nullable_columns_and_widens(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    first = pa.table(
        {
            "order_id": ["A", "B"],
            "qty": pa.array([1, 2], pa.int32()),
            "price": pa.array([1.5, 2.5], pa.float32()),
            "big": pa.array([1, 2], pa.int64()),
        }
    )
    write_parquet(partition_path(landing, "order_summary", "2025-11-13", 1, "parquet"), first)
    second = pa.table(
        {
            "order_id": ["B", "C"],
            "qty": pa.array([2**40, 3], pa.int64()),  # table widens int32 -> int64
            "price": pa.array([0.1, 0.2], pa.float64()),  # float -> double
            "big": pa.array([7, 8], pa.int32()),  # narrower file type fits as is
            "channel": ["web", None],  # new column, nullable
        }
    )
    write_parquet(partition_path(landing, "order_summary", "2025-11-13", 2, "parquet"), second)
    assert [o.status for o in loader.load_all(source)] == ["loaded", "loaded"]
    assert columns(backend, "order_summary") == {
        "order_id": "VARCHAR",
        "qty": "BIGINT",
        "price": "DOUBLE",
        "big": "BIGINT",
        "channel": "VARCHAR",
    }
    assert snapshot(backend, "order_summary") == [
        ("A", 1, 1.5, 1, None),
        ("B", 2**40, 0.1, 7, "web"),
        ("C", 3, 0.2, 8, None),
    ]
    # A file without the new column leaves it null for its rows.
    write_parquet(
        partition_path(landing, "order_summary", "2025-11-14", 1, "parquet"),
        [{"order_id": "B", "qty": 5}],
    )
    loader.load_all(source)
    assert backend.fetchall("SELECT qty, price, channel FROM order_summary WHERE order_id='B'") == [
        (5, None, None)
    ]


def test_hostile_identifiers_are_quoted(
    backend: Backend, source: LocalSource, landing: Path
) -> None:
    hostile = 'x"; DROP TABLE load_ledger; --'
    loader = Loader(backend, FanOut([LogNotifier()]), keys={"weird": ["Order Id"]})
    write_parquet(landing / "weird.parquet", [{"Order Id": 1, hostile: "v", "select": 2}])
    (outcome,) = loader.load_all(source)
    assert outcome.status == "loaded", outcome.error
    assert set(columns(backend, "weird")) == {"Order Id", hostile, "select"}
    assert backend.scalar("SELECT count(*) FROM load_ledger") == 1


def test_table_without_a_key_and_shipline_tables_are_refused(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    write_parquet(landing / "customers.parquet", [{"id": 1}])
    write_parquet(landing / "dead_letters_20250101.parquet", [{"id": 1}])
    outcomes = {o.table: o for o in loader.load_all(source)}
    assert "no key configured" in (outcomes["customers"].error or "")
    assert "belongs to shipline" in (outcomes["dead_letters"].error or "")
    assert snapshot(backend, "customers") == []


def test_notifications_are_logged(
    loader: Loader, source: LocalSource, landing: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shipline.notify")
    write_parquet(landing / "order_summary.parquet", [{"order_id": "A"}])
    (landing / "order_items.parquet").write_bytes(b"garbage")
    loader.load_all(source)
    texts = [r.getMessage() for r in caplog.records if r.name == "shipline.notify"]
    assert any("detected for table order_items" in t for t in texts)
    assert any("loaded into table order_summary: 1 rows" in t for t in texts)
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failure) == 1 and "Fix the file and upload it again" in failure[0].getMessage()


def test_csv_and_json_upsert_into_the_same_table(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    (landing / "order_summary_20250101_001.csv").write_text("order_id,total\nA,1\nB,2\n")
    (landing / "order_summary_20250101_002.ndjson").write_text(
        '{"order_id": "B", "total": 20}\n{"order_id": "C", "total": 30}\n'
    )
    assert [o.status for o in loader.load_all(source)] == ["loaded", "loaded"]
    assert snapshot(backend, "order_summary") == [("A", 1), ("B", 20), ("C", 30)]


def test_watch_waits_until_a_file_is_unchanged_between_polls(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    path = landing / "order_summary_20250101_001.csv"
    path.write_text("order_id,total\nA,1\n")
    polls = loader.watch(source, interval_seconds=0, should_stop=lambda: False)
    assert next(polls) == []  # first sight
    path.write_text("order_id,total\nA,1\nB,2\n")  # still being written
    assert next(polls) == []
    (loaded,) = next(polls)
    assert (loaded.status, loaded.rows) == ("loaded", 2)
    assert next(polls) == []  # unchanged: not read again
    assert snapshot(backend, "order_summary") == [("A", 1), ("B", 2)]


def test_a_big_first_file_is_all_there_and_queryable(
    backend: Backend, loader: Loader, source: LocalSource, landing: Path
) -> None:
    """More rows than one DuckDB row group (122,880), into a table the load creates."""
    rows = 130_000
    big = pa.table(
        {
            "order_id": [f"O{i}" for i in range(rows)],
            "line_number": pa.array([1] * rows, pa.int32()),
            "qty": pa.array(range(rows), pa.int64()),
        }
    )
    write_parquet(partition_path(landing, "order_items", "2025-11-13", 1, "parquet"), big)
    (outcome,) = loader.load_all(source)
    assert (outcome.status, outcome.inserted) == ("loaded", rows)
    assert backend.fetchone("SELECT count(*), min(qty), max(qty) FROM order_items") == (
        rows,
        0,
        rows - 1,
    )
    assert backend.scalar("SELECT qty FROM order_items WHERE order_id = 'O129999'") == rows - 1


@pytest.mark.parametrize(
    "table", ["api_keys", "alert_state", "monitor_metrics", "view_definitions", "shipment_summary"]
)
def test_no_table_or_view_shipline_owns_can_be_loaded_even_with_a_key(
    backend: Backend, source: LocalSource, landing: Path, table: str
) -> None:
    loader = Loader(backend, FanOut([LogNotifier()]), keys={table: ["key_id"]})
    write_parquet(landing / f"{table}.parquet", [{"key_id": "k1", "scope": "admin"}])
    (outcome,) = loader.load_all(source)
    assert outcome.status == "failed"
    assert "belongs to shipline" in (outcome.error or "")
    assert backend.scalar("SELECT count(*) FROM api_keys") == 0
