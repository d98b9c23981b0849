"""Ingest stores each accepted event once; bad records land in dead_letters with a
reason, beside the good records of the same batch, and can be redriven."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database

GOOD = {"shipment_id": "S1", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}


def stored(pipeline: Pipeline) -> int:
    return int(pipeline.backend.scalar("SELECT count(*) FROM shipment_events"))


def test_a_bad_record_is_dead_lettered_and_its_good_neighbours_kept(pipeline: Pipeline) -> None:
    bad = {"shipment_id": "S1", "event_timestamp": "2026-01-01T01:00:00Z", "event_type": "nope"}
    result = pipeline.ingest_records([GOOD, bad, {**GOOD, "shipment_id": "S2"}], "test")
    assert (result.accepted, result.rejected) == (2, 1)
    assert result.errors[0].index == 1
    [letter] = pipeline.dead_letters()
    assert letter["source"] == "test"
    assert letter["reason"].startswith('event_type: unknown value "nope"')
    assert json.loads(letter["payload"]) == bad
    assert stored(pipeline) == 2


def test_the_same_event_delivered_again_is_counted_not_stored(pipeline: Pipeline) -> None:
    pipeline.ingest_records([GOOD], "test")
    again = pipeline.ingest_records([GOOD, GOOD], "test")
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 0)
    assert stored(pipeline) == 1


def test_the_same_key_with_other_content_is_a_conflict_and_the_first_write_wins(
    pipeline: Pipeline,
) -> None:
    pipeline.ingest_records([{**GOOD, "event_id": "e1", "location_id": "A"}], "test")
    clash = pipeline.ingest_records([{**GOOD, "event_id": "e1", "location_id": "B"}], "test")
    assert clash.rejected == 1
    assert "already stored as ingest_seq 1 with different content" in clash.errors[0].errors[0]
    assert pipeline.backend.scalar("SELECT location_id FROM shipment_events") == "A"
    assert len(pipeline.dead_letters()) == 1


def test_ingest_seq_strictly_increases_in_arrival_order(pipeline: Pipeline) -> None:
    first = pipeline.ingest_records([GOOD, {**GOOD, "shipment_id": "S2"}], "test")
    second = pipeline.ingest_records([{**GOOD, "shipment_id": "S3"}], "test")
    assert (first.first_ingest_seq, first.last_ingest_seq) == (1, 2)
    assert second.first_ingest_seq == 3


@pytest.fixture
def database(engine: str) -> Iterator[str]:
    """A fresh database on ``engine``, for tests that open pipelines over it in turn."""
    with fresh_database(engine) as database:
        yield database


def test_a_dead_letter_redrives_once_its_alias_exists(database: str) -> None:
    with Pipeline(Settings(database=database)) as pipeline:
        pipeline.ingest_records([{**GOOD, "event_type": "DLV"}], "test")
        [letter] = pipeline.dead_letters()
        still = pipeline.redrive([letter["dead_letter_id"]])
        assert still.rejected == 1
        assert len(pipeline.dead_letters()) == 1
    settings = Settings(database=database, aliases={"event_type": {"DLV": "delivered"}})
    with Pipeline(settings) as pipeline:
        redriven = pipeline.redrive([letter["dead_letter_id"]])
        assert redriven.accepted == 1
        assert pipeline.dead_letters() == []
        assert pipeline.backend.scalar("SELECT event_type FROM shipment_events") == "delivered"


def test_a_parquet_file_is_ingested_with_its_bad_rows_dead_lettered(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "shipment_id": ["S1", "S2", None],
                "event_timestamp": ["2026-01-01T00:00:00Z"] * 3,
                "event_type": ["created", "created", "created"],
            }
        ),
        path,
    )
    result = pipeline.ingest_files([path])
    assert (result.accepted, result.rejected) == (2, 1)
    assert pipeline.dead_letters()[0]["source"] == "file:events.parquet"
