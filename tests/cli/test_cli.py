"""The command line as a user drives it: exit codes, one-line summaries, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EVENTS = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T04:30:00Z", "event_type": "picked_up"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T05:00:00Z", "event_type": "nope"}\n'
)


def shipline(
    tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipline.cli", "--database", str(tmp_path / "db.duckdb"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ingest_process_verify_and_read_a_timeline(tmp_path: Path) -> None:
    ingested = shipline(tmp_path, "ingest", "-", "--json", stdin=EVENTS)
    assert ingested.returncode == 0, ingested.stderr
    stats = json.loads(ingested.stdout)
    assert (stats["accepted"], stats["rejected"]) == (2, 1)

    run = shipline(tmp_path, "incremental", "--json")
    assert json.loads(run.stdout)["rows_written"] == 2

    assert shipline(tmp_path, "verify").returncode == 0
    timeline = json.loads(shipline(tmp_path, "timeline", "S1", "--format", "json").stdout)
    assert [row["cumulative_transit_hours"] for row in timeline["timeline"]] == [
        "0.000000",
        "4.500000",
    ]
    assert "open dead letters 1" in shipline(tmp_path, "status").stdout


def test_an_unknown_shipment_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    result = shipline(tmp_path, "timeline", "NOPE")
    assert result.returncode == 4
    assert "shipment 'NOPE' is not in the timeline view" in result.stderr


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = shipline(tmp_path, "ingest", str(tmp_path / "absent.parquet"))
    assert result.returncode == 3
    assert "absent.parquet" in result.stderr
