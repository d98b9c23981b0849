"""``verify`` finds drift: each kind of corruption is reported, not only a clean view.

Without these, every ``verify().drift == 0`` in the suite would pass for a verify
that always answered 0.
"""

from __future__ import annotations

import json

from shipline.pipeline import Pipeline
from shipline.timeline.verify import verify
from tests.conftest import Shipline
from tests.timeline.test_holds import event


def built(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [event("A", 8, "picked_up"), event("A", 9), event("B", 8, "picked_up")], "test"
    )
    pipeline.incremental()
    assert pipeline.verify().drift == 0


def test_a_wrong_timeline_row_is_drift_in_rows_and_summary(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.backend.execute(
        "UPDATE shipment_timeline_incremental SET cumulative_transit_hours = 99"
        " WHERE shipment_id = 'A' AND event_sequence = 2"
    )

    result = pipeline.verify()

    assert result.differing_rows == 2  # the wrong row seen, the right one missing
    assert result.differing_summaries == 2
    assert {example["shipment_id"] for example in result.examples} == {"A"}


def test_a_wrong_state_row_shows_as_drift_after_the_next_run(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.backend.execute("UPDATE shipment_state SET event_sequence = 7 WHERE shipment_id = 'B'")
    pipeline.ingest_records([event("B", 12)], "test")
    pipeline.incremental()  # continues B from its (wrong) last row

    assert pipeline.verify().differing_rows > 0


def test_a_wrong_kpi_fact_or_dwell_row_is_drift(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.backend.execute(
        "UPDATE shipment_state SET exception_count = 5 WHERE shipment_id = 'A'"
    )
    pipeline.backend.execute("INSERT INTO shipment_dwell VALUES ('B', 'HUB-X', 1)")
    result = pipeline.verify()
    assert result.differing_facts == 3  # A's facts seen from both sides, and B's extra stop
    assert (result.differing_rows, result.differing_summaries) == (0, 0)
    assert result.drift == 3


def test_a_shipment_missing_from_the_view_is_drift(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.base()
    pipeline.backend.execute("DELETE FROM shipment_timeline_base WHERE shipment_id = 'B'")

    result = pipeline.verify()

    assert result.drift > 0
    assert result.differing_rows == 1


def test_a_row_the_view_holds_twice_is_drift(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.backend.execute(
        "INSERT INTO shipment_timeline_incremental SELECT * FROM shipment_timeline_incremental"
        " WHERE shipment_id = 'B'"
    )

    result = pipeline.verify()

    assert result.differing_rows == 1  # the copy: every column equal, its key repeated
    assert [example["problem"] for example in result.examples] == ["unexpected in view"]


def test_a_wrong_row_is_named_from_both_sides(pipeline: Pipeline) -> None:
    built(pipeline)
    pipeline.backend.execute(
        "UPDATE shipment_timeline_incremental SET status = 'exception' WHERE shipment_id = 'B'"
    )

    problems = sorted(example["problem"] for example in pipeline.verify().examples)

    assert problems == ["missing or wrong in view", "unexpected in view"]


def test_the_cli_exits_6_on_drift(shipline: Shipline) -> None:
    with Pipeline.open(database=shipline.database) as pipeline:
        built(pipeline)
        pipeline.backend.execute(
            "UPDATE shipment_timeline_incremental SET status = 'delivered' WHERE shipment_id = 'B'"
        )

    verified = shipline("verify")

    assert verified.returncode == 6, verified.stdout + verified.stderr
    assert "differences from a full recompute" in verified.stderr
    assert json.loads(shipline("verify", "--json").stdout)["drift"] > 0


def test_a_store_compared_in_parts_finds_the_same_drift(pipeline: Pipeline) -> None:
    """verify compares ranges of shipment ids one at a time to bound its memory; a part
    of one row (every shipment a part of its own) must find what one part finds."""
    pipeline.ingest_records(
        [event(shipment, hour) for shipment in "ABCDEF" for hour in (8, 9, 10)], "test"
    )
    pipeline.incremental()
    pipeline.backend.execute(
        "UPDATE shipment_timeline_incremental SET status = 'exception'"
        " WHERE shipment_id IN ('B', 'E') AND event_sequence = 2"
    )
    pipeline.backend.execute(
        "INSERT INTO shipment_timeline_incremental SELECT * FROM shipment_timeline_incremental"
        " WHERE shipment_id = 'F' AND event_sequence = 1"
    )

    whole = verify(pipeline.backend, lookback_days=30, every_shipment=True, examples=3)
    parts = verify(
        pipeline.backend, lookback_days=30, every_shipment=True, examples=3, rows_per_part=1
    )

    assert whole.rows_checked == parts.rows_checked == 18
    assert whole.differing_rows == parts.differing_rows == 5  # 2 wrong, 2 missing, 1 copy
    assert whole.differing_summaries == parts.differing_summaries == 6  # B, E, F both ways
    assert parts.examples == whole.examples
    assert [example["shipment_id"] for example in parts.examples] == ["B", "B", "E"]
