"""The command line as a user drives it: exit codes, one-line summaries, --json."""

from __future__ import annotations

import json

from tests.conftest import Shipline

EVENTS = (
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T04:30:00Z", "event_type": "picked_up"}\n'
    '{"shipment_id": "S1", "event_timestamp": "2026-01-01T05:00:00Z", "event_type": "nope"}\n'
)


def test_ingest_process_verify_and_read_a_timeline(shipline: Shipline) -> None:
    ingested = shipline("ingest", "-", "--json", stdin=EVENTS)
    assert ingested.returncode == 0, ingested.stderr
    stats = json.loads(ingested.stdout)
    assert (stats["accepted"], stats["rejected"]) == (2, 1)

    run = shipline("incremental", "--json")
    assert json.loads(run.stdout)["rows_written"] == 2

    assert shipline("verify").returncode == 0
    timeline = json.loads(shipline("timeline", "S1", "--format", "json").stdout)
    assert [row["cumulative_transit_hours"] for row in timeline["timeline"]] == [
        "0.000000",
        "4.500000",
    ]
    assert "open dead letters 1" in shipline("status").stdout


def test_an_unknown_shipment_exits_non_zero_with_a_clear_message(shipline: Shipline) -> None:
    result = shipline("timeline", "NOPE")
    assert result.returncode == 4
    assert "shipment 'NOPE' is not in the timeline view" in result.stderr


def test_a_missing_file_is_named(shipline: Shipline) -> None:
    result = shipline("ingest", str(shipline.folder / "absent.parquet"))
    assert result.returncode == 3
    assert "absent.parquet" in result.stderr
