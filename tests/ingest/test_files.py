"""Ingesting files judges them row by row: a broken row is refused alone, with a
dead letter that says its line, beside the good rows of the same file. A file
that cannot be read at all is refused by name, and the next file goes on.

Every record is accounted for: ``received == accepted + duplicates + rejected``,
and each rejected record has a dead letter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.ingest.service import IngestResult
from shipline.pipeline import Pipeline
from tests.conftest import Shipline

HEADER = "shipment_id,event_timestamp,event_type,location_id\n"


def good_line(shipment_id: str, **fields: str) -> str:
    return json.dumps(
        {
            "shipment_id": shipment_id,
            "event_timestamp": "2026-01-01T00:00:00Z",
            "event_type": "created",
            **fields,
        },
        ensure_ascii=False,
    )


def every_dead_letter(pipeline: Pipeline) -> list[dict[str, Any]]:
    # ``state=None`` is every state (the CLI's and the API's "all").
    return pipeline.dead_letters(state=None, limit=1000)


def accounted(pipeline: Pipeline, result: IngestResult) -> list[dict[str, Any]]:
    """Check that no record went missing, and return the dead letters, oldest first."""
    assert result.received == result.accepted + result.duplicates + result.rejected
    letters = sorted(every_dead_letter(pipeline), key=lambda letter: letter["dead_letter_id"])
    assert len(letters) == result.rejected
    return letters


def consistent(pipeline: Pipeline) -> None:
    """What was stored runs through the timeline with no drift."""
    pipeline.incremental()
    assert pipeline.verify().drift == 0


def stored_shipments(pipeline: Pipeline) -> list[str]:
    rows = pipeline.backend.fetch_dicts(
        "SELECT shipment_id FROM shipment_events ORDER BY shipment_id"
    )
    return [row["shipment_id"] for row in rows]


# Row by row ---------------------------------------------------------------------


def test_a_ragged_csv_row_is_refused_with_its_line_and_its_neighbours_kept(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        HEADER
        + "S1,2026-01-01T00:00:00Z,created,A\n"
        + "S2,2026-01-01T00:00:00Z,created,A,extra\n"
        + "S3,2026-01-01T00:00:00Z,created,A\n"
    )
    result = pipeline.ingest_files([path])
    assert (result.received, result.accepted, result.rejected) == (3, 2, 1)
    [letter] = accounted(pipeline, result)
    assert letter["reason"].startswith("line 3: record: has 5 fields; the header has 4")
    assert letter["payload"] == "S2,2026-01-01T00:00:00Z,created,A,extra"
    assert letter["source"] == "file:events.csv"
    assert stored_shipments(pipeline) == ["S1", "S3"]
    consistent(pipeline)


def test_a_csv_field_that_is_not_utf8_refuses_only_its_row(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(
        HEADER.encode()
        + b"S1,2026-01-01T00:00:00Z,created,A\n"
        + b"S2,2026-01-01T00:00:00Z,created,A\xff\n"
        + b"S3,2026-01-01T00:00:00Z,created,A\n"
    )
    result = pipeline.ingest_files([path])
    assert (result.received, result.accepted, result.rejected) == (3, 2, 1)
    [letter] = accounted(pipeline, result)
    assert letter["reason"].startswith("line 3: location_id: not UTF-8")
    assert stored_shipments(pipeline) == ["S1", "S3"]
    consistent(pipeline)


def test_an_ndjson_line_with_a_lone_surrogate_is_dead_lettered_as_its_own_text(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    broken = good_line("S2").replace('"S2"', '"S2\\ud800"')
    path = tmp_path / "events.ndjson"
    path.write_text(f"{good_line('S1')}\n{broken}\n{good_line('S3')}\n")
    result = pipeline.ingest_files([path])
    assert (result.received, result.accepted, result.rejected) == (3, 2, 1)
    [letter] = accounted(pipeline, result)
    assert letter["payload"] == broken
    assert letter["reason"].startswith("line 2: ")
    assert "not valid Unicode" in letter["reason"]
    assert stored_shipments(pipeline) == ["S1", "S3"]
    consistent(pipeline)


def test_a_raw_line_separator_inside_an_ndjson_string_does_not_split_the_record(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # U+2028 is a line break to str.splitlines, but not to NDJSON.
    path = tmp_path / "events.ndjson"
    separated = good_line("S1", location_id="A\u2028B")
    assert "\u2028" in separated  # written raw, not escaped
    path.write_text(f"{separated}\n{good_line('S2')}\n", encoding="utf-8")
    result = pipeline.ingest_files([path])
    assert (result.received, result.accepted, result.rejected) == (2, 2, 0)
    accounted(pipeline, result)
    location = pipeline.backend.scalar(
        "SELECT location_id FROM shipment_events WHERE shipment_id = 'S1'"
    )
    assert location == "A\u2028B"
    consistent(pipeline)


def test_typed_timestamps_at_the_limits_of_int64_are_refused_not_dropped(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # DuckDB reads the two extreme values as infinity and -infinity.
    normal = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    path = tmp_path / "events.parquet"
    pq.write_table(
        pa.table(
            {
                "shipment_id": ["S1", "S2", "S3", "S4", "S5"],
                "event_timestamp": pa.array(
                    [normal, 2**63 - 1, normal + 3_600_000_000, -(2**63) + 1, normal + 1],
                    pa.timestamp("us", tz="UTC"),
                ),
                "event_type": ["created"] * 5,
            }
        ),
        path,
    )
    result = pipeline.ingest_files([path])
    assert (result.received, result.accepted, result.rejected) == (5, 3, 2)
    letters = accounted(pipeline, result)
    assert sorted(json.loads(letter["payload"])["shipment_id"] for letter in letters) == [
        "S2",
        "S4",
    ]
    assert all(
        letter["reason"].startswith("event_timestamp: ")
        and "outside the accepted range" in letter["reason"]
        for letter in letters
    )
    assert stored_shipments(pipeline) == ["S1", "S3", "S5"]
    consistent(pipeline)


# Whole files ---------------------------------------------------------------------


def truncated_parquet(path: Path) -> Path:
    pq.write_table(
        pa.table(
            {
                "shipment_id": ["S1"] * 100,
                "event_timestamp": ["2026-01-01T00:00:00Z"] * 100,
                "event_type": ["created"] * 100,
            }
        ),
        path,
    )
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def unreadable(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        return truncated_parquet(path)
    path.write_text("" if name.startswith("empty") else "S1 created yesterday\n")
    return path


REFUSALS = [
    ("empty.csv", "empty.csv: the file is empty"),
    ("empty.ndjson", "empty.ndjson: the file is empty"),
    ("cut.parquet", "cut.parquet: cannot be read as parquet"),
    ("events.txt", "events.txt: unknown file type; name it .parquet, .csv, .json,"),
]


@pytest.mark.parametrize(("name", "reason"), REFUSALS)
def test_a_file_that_cannot_be_read_is_refused_by_name(
    pipeline: Pipeline, tmp_path: Path, name: str, reason: str
) -> None:
    result = pipeline.ingest_files([unreadable(tmp_path, name)])
    assert (result.received, result.accepted, result.rejected) == (0, 0, 0)
    [refusal] = result.refused_files
    assert refusal.startswith(reason)
    assert every_dead_letter(pipeline) == []


@pytest.mark.parametrize(("name", "reason"), REFUSALS)
def test_the_cli_refuses_an_unreadable_file_with_exit_3_and_no_traceback(
    shipline: Shipline, tmp_path: Path, name: str, reason: str
) -> None:
    done = shipline("ingest", str(unreadable(tmp_path, name)), "--json")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert reason in " ".join(done.stderr.split())
    [refusal] = json.loads(done.stdout)["refused_files"]
    assert refusal.startswith(reason)


def test_a_good_file_after_an_unreadable_one_is_still_stored(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(f"{good_line('S1')}\n{good_line('S2')}\n")
    result = pipeline.ingest_files([truncated_parquet(tmp_path / "cut.parquet"), good])
    assert (result.received, result.accepted) == (2, 2)
    assert [refusal.split(":")[0] for refusal in result.refused_files] == ["cut.parquet"]
    accounted(pipeline, result)
    assert stored_shipments(pipeline) == ["S1", "S2"]
    consistent(pipeline)


def test_the_cli_stores_the_good_file_and_still_exits_3_naming_the_bad_one(
    shipline: Shipline, tmp_path: Path
) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(f"{good_line('S1')}\n{good_line('S2')}\n")
    done = shipline("ingest", str(truncated_parquet(tmp_path / "cut.parquet")), str(good), "--json")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "cut.parquet" in done.stderr
    stats = json.loads(done.stdout)
    assert (stats["events"], stats["accepted"]) == (2, 2)

    assert shipline("incremental").returncode == 0
    verified = shipline("verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["shipments_checked"] == 2


def test_the_cli_counts_every_row_and_lists_each_refused_one_as_a_dead_letter(
    shipline: Shipline, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(
        HEADER.encode()
        + b"S1,2026-01-01T00:00:00Z,created,A\n"
        + b"S2,2026-01-01T00:00:00Z,created,A,extra\n"
        + b"S3,2026-01-01T00:00:00Z,created,A\xff\n"
        + b"S4,2026-01-01T00:00:00Z,created,A\n"
    )
    done = shipline("ingest", str(path), "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["events"] == stats["accepted"] + stats["duplicates"] + stats["rejected"]
    assert (stats["accepted"], stats["rejected"]) == (2, 2)
    assert [(error["line"], error["dead_letter_id"] is not None) for error in stats["errors"]] == [
        (3, True),
        (4, True),
    ]

    listed = shipline("dlq", "list", "--state", "all", "--json")
    assert listed.returncode == 0, listed.stderr
    reasons = sorted(letter["reason"] for letter in json.loads(listed.stdout))
    assert reasons[0].startswith("line 3: record: has 5 fields; the header has 4")
    assert reasons[1].startswith("line 4: location_id: not UTF-8")
