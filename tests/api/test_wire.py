"""``api.wire``: what the CLI and a server send each other comes back as it was."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shipline.api import wire
from shipline.errors import ValidationError
from shipline.ingest.service import IngestResult, RecordError
from shipline.timeline.runs import RunResult
from shipline.timeline.verify import VerifyResult


def round_trip(value: Any) -> Any:
    return wire.loads(wire.dumps(value))


def test_a_timeline_row_keeps_its_types() -> None:
    row = {
        "event_timestamp": datetime(2026, 11, 3, 4, 5, 6, 789012, tzinfo=UTC),
        "time_since_prev_event": timedelta(days=2, seconds=7, microseconds=1),
        "cumulative_transit_hours": Decimal("52.001944"),
        "base_date": date(2026, 11, 3),
        "location_changed": True,
        "region": None,
        1: "a key that is not a string",
    }
    again = round_trip(row)
    assert again == row
    assert [type(v) for v in again.values()] == [type(v) for v in row.values()]


def test_results_come_back_as_the_same_objects() -> None:
    ingest = IngestResult(
        "files", 3, 1, 1, 1, errors=[RecordError(2, ["event_type: required"], line_number=3)]
    )
    run = RunResult("incremental", 5, 2, 9, 40, 1, 5, 12.5)
    verify = VerifyResult(1, 2, 0, 0, 0, 3.0)  # max_pending_seconds is infinite
    assert round_trip([ingest, run, verify, (Path("/data/x.ndjson"), b"\x00\xff")]) == [
        ingest,
        run,
        verify,
        (Path("/data/x.ndjson"), b"\x00\xff"),
    ]


def test_an_arrow_table_arrives_whole() -> None:
    table = pa.table({"shipment_id": ["S1", None], "n": [1, 2]})
    assert round_trip(table).equals(table)


def test_a_body_cannot_name_a_class_that_is_not_a_result() -> None:
    body = b'{"$": "result", "type": "Popen", "fields": {"args": "true"}}'
    with pytest.raises(ValidationError):
        wire.loads(body)


def test_a_value_without_a_wire_form_is_not_sent() -> None:
    with pytest.raises(TypeError):
        wire.dumps({"x": object()})
