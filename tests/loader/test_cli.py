"""``shipline load`` / ``loads list`` end to end, including shipment-event files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipline.cli.main import app
from shipline.errors import LoadError
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database
from tests.loader.conftest import partition_path, write_parquet

runner = CliRunner()


@pytest.fixture
def db(engine: str) -> Iterator[str]:
    """A fresh database that exists (the CLI refuses to make one but for ``init``)."""
    with fresh_database(engine) as database:
        Pipeline(Settings(database=database)).close()
        yield database


def test_load_reports_each_file_and_fails_when_one_did(
    db: str, landing: Path, tmp_path: Path
) -> None:
    write_parquet(
        partition_path(landing, "order_summary", "2025-11-13", 1, "parquet"),
        [{"order_id": "A", "total": 1.0}],
    )
    (landing / "order_items_20251113_001.csv").write_text("order_id,qty\nA,1\n")
    result = runner.invoke(app, ["-d", db, "load", str(landing)])
    assert result.exit_code != 0
    assert isinstance(result.exception, LoadError)
    assert result.exception.exit_code == 7
    assert "1 of 2 file(s) failed" in str(result.exception)
    assert "loaded" in result.output and "order_summary: 1 rows" in result.output
    assert "key column(s) 'line_number' missing" in " ".join(result.output.split())
    assert (landing / "_quarantine" / "order_items_20251113_001.csv").is_file()
    assert not (tmp_path / "_quarantine").exists()  # never outside the landing folder

    again = runner.invoke(app, ["-d", db, "load", str(landing), "--json"])
    assert again.exit_code == 0, again.output
    assert [o["status"] for o in json.loads(again.output)] == ["skipped"]

    listed = runner.invoke(app, ["-d", db, "loads", "list", "--json"])
    rows = json.loads(listed.output)
    assert [(r["table_name"], r["status"]) for r in rows] == [
        ("order_summary", "loaded"),
        ("order_items", "failed"),
    ]
    assert runner.invoke(app, ["-d", db, "loads", "list"]).exit_code == 0


def _events(start: datetime) -> list[dict[str, str]]:
    kinds = ["created", "picked_up", "in_transit", "delivered"]
    return [
        {
            "event_id": f"E{s}-{i}",
            "shipment_id": f"S{s}",
            "event_timestamp": (start + timedelta(hours=i)).isoformat(),
            "event_type": kind,
            "location_id": f"L{i}",
        }
        for s in range(3)
        for i, kind in enumerate(kinds)
    ]


def test_shipment_event_files_go_through_ingest_and_the_timeline(db: str, landing: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    path = partition_path(landing, "shipment_events", "2025-11-13", 1, "ndjson")
    path.write_text("\n".join(json.dumps(e) for e in _events(start)))
    with Pipeline(Settings(database=db)) as pipeline:
        (outcome,) = pipeline.load_files([str(landing)])
        assert outcome["status"] == "loaded", outcome
        assert (outcome["table"], outcome["rows"], outcome["inserted"]) == (
            "shipment_events",
            12,
            12,
        )
        assert pipeline.status().pending_events == 0
        timeline = pipeline.timeline("S1")
        assert [row["event_type"] for row in timeline] == [
            "created",
            "picked_up",
            "in_transit",
            "delivered",
        ]
        assert pipeline.load_files([str(path)])[0]["status"] == "skipped"


def test_watch_loads_files_that_appear(db: str, landing: Path) -> None:
    write_parquet(landing / "order_summary_20250101_001.parquet", [{"order_id": "A"}])
    result = runner.invoke(
        app,
        ["-d", db, "load", "--watch", str(landing), "--interval", "0.01", "--max-polls", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "order_summary: 1 rows" in result.output
    with Pipeline(Settings(database=db)) as pipeline:
        assert pipeline.backend.scalar("SELECT count(*) FROM order_summary") == 1
