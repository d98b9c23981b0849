"""Tables as a person reads them at 80 columns: ids and paths whole on one line, prose
wrapped at words, numbers with separators, durations in whole seconds."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipline.cli.render import display, rows_table
from tests.conftest import Shipline

PATH = "orders/day=13/orders_001.parquet"
REASON = (
    "table order_summary has no key configured; set loader_keys.order_summary to its"
    " key column(s) so rows can be upserted"
)


def printed(table: Any, width: int = 80) -> list[str]:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue().splitlines()


def loads(path: str = PATH) -> list[dict[str, Any]]:
    return [
        {
            "load_id": 12345,
            "loaded_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "file_key": path,
            "table_name": "order_summary",
            "status": "failed",
            "rows": 1234567,
            "duration_ms": 1234.5678,
            "error": REASON,
        }
    ]


COLUMNS = ["load_id", "loaded_at", "file_key", "table_name", "status", "rows", "duration_ms"]


def test_a_file_path_that_fits_is_whole_on_one_line() -> None:
    lines = printed(rows_table(loads(), [*COLUMNS, "error"], "loads"))
    assert all(len(line) <= 80 for line in lines)
    assert any(PATH in line for line in lines)
    assert any("12345" in line and "failed" in line for line in lines)
    # Prose wraps at words: every word of the reason narrower than the column is whole.
    shown = " ".join(lines)
    assert all(word in shown for word in REASON.split() if len(word) <= 16)
    assert any("left out to fit 80 columns:" in line for line in lines)


def test_a_path_too_wide_for_the_terminal_keeps_its_end() -> None:
    long = "s3://landing-bucket/" + "/".join(["partition"] * 8) + "/order_summary_001.parquet"
    lines = printed(rows_table(loads(long), COLUMNS))
    assert all(len(line) <= 80 for line in lines)
    [row] = [line for line in lines if "12345" in line]
    assert "s3://landing" in row and "_001.parquet" in row and "\u2026" in row


@pytest.mark.parametrize(
    "columns", [["id", "scope", "state", "description"], ["event_id", "shipment_id", "description"]]
)
def test_ids_never_break_and_prose_wraps(columns: list[str]) -> None:
    row = {
        "id": "SHPLCD6C47758647149B",
        "scope": "read",
        "state": "active",
        "event_id": "0c5e8d1e-8d3a-4f7e-9d58-61f3c7a4b2e1",
        "shipment_id": "SHP-000008041",
        "description": "dashboard for the operations team in the Rotterdam office " * 2,
    }
    lines = printed(rows_table([row], columns))
    assert all(len(line) <= 80 for line in lines)
    for column in columns[:-1]:
        assert any(row[column] in line for line in lines)
    assert sum("Rotterdam" in line for line in lines) == 2


def test_a_long_header_wraps_after_an_underscore_not_its_values() -> None:
    rows = [{"shipment_id": "SHP-000000001", "cumulative_transit_hours": 187.69}]
    lines = printed(rows_table(rows, ["shipment_id", "cumulative_transit_hours"]), width=32)
    assert any("SHP-000000001" in line and "187.69" in line for line in lines)
    assert any("cumulative_" in line for line in lines)
    assert any("hours" in line for line in lines)


@pytest.mark.parametrize(
    ("value", "column", "shown"),
    [
        (1234567, "rows", "1,234,567"),
        (1234567, "load_id", "1234567"),
        (1234.5678, "duration_ms", "1,235"),
        (187.690000, "cumulative_transit_hours", "187.69"),
        (timedelta(hours=30, seconds=1.654321), "status_duration", "30:00:02"),
        (timedelta(seconds=-5), "gap", "-0:00:05"),
        (90_500_000, "gap_us", "0:01:30"),
        (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "at", "2026-01-02 03:04"),
        ("2026-01-02T03:04:05.678901+00:00", "created_at", "2026-01-02 03:04"),
        ({"a": 1}, "details", '{"a": 1}'),
        (None, "x", ""),
    ],
)
def test_a_value_reads_as_a_person_expects(value: Any, column: str, shown: str) -> None:
    assert display(value, column) == shown


@pytest.mark.slow
def test_loads_list_at_80_columns_prints_each_file_key_on_one_line(
    shipline: Shipline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    landing = tmp_path / "landing" / "order_summary" / "year=2025" / "month=11" / "day=13"
    landing.mkdir(parents=True)
    (landing / "order_summary_20251113_001.json").write_text(
        json.dumps({"order_id": 1, "total": 2.5}) + "\n"
    )
    shipline("load", str(tmp_path / "landing"))
    listed = shipline("loads", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # The path (long: the test's folder) is cut in the middle, its end kept, on one line.
    [row] = [line for line in lines if "_001.json" in line]
    assert "/" in row and ("failed" in row or "loaded" in row)


def test_keys_list_at_80_columns_prints_each_key_id_whole(
    shipline: Shipline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    created = shipline("keys", "create", "--scope", "read", "--json")
    assert created.returncode == 0, created.stderr
    key_id = json.loads(created.stdout)["id"]
    listed = shipline("keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    assert any(key_id in line and "active" in line for line in listed.stdout.splitlines())
