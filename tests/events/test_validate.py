"""The event contract (DESIGN section 2): what is accepted, how it is normalised,
and the message each kind of bad record gets."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from shipline.errors import ConfigError
from shipline.events.json_records import parse_json_lines
from shipline.events.shapes import records_to_raw
from shipline.events.validate import validate


def check(*records: object, **aliases: dict[str, str]) -> tuple[list[dict], list[list[str]]]:
    batch = validate(
        records_to_raw(list(records)), aliases.get("event_type"), aliases.get("status")
    )
    return batch.accepted.to_pylist(), [r.errors for r in batch.rejected]


def test_a_minimal_event_is_normalised_with_its_default_status_and_a_derived_id() -> None:
    accepted, rejected = check(
        {
            "shipment_id": "S-1",
            "event_timestamp": "2026-01-01T02:00:00+02:00",
            "event_type": "created",
        }
    )
    assert rejected == []
    [event] = accepted
    assert event["event_timestamp"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert event["status"] == "pre_transit"
    assert len(event["event_id"]) == 32


def test_the_same_instant_with_another_offset_is_the_same_event() -> None:
    accepted, _ = check(
        {"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"},
        {
            "shipment_id": "S",
            "event_timestamp": "2026-01-01T01:00:00+01:00",
            "event_type": "created",
        },
    )
    assert accepted[0]["event_id"] == accepted[1]["event_id"]
    assert accepted[0]["content_hash"] == accepted[1]["content_hash"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"},
            "shipment_id: required",
        ),
        (
            {
                "shipment_id": "a b",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
            },
            'shipment_id: "a b" may hold only letters, digits and . _ : -',
        ),
        (
            {
                "shipment_id": "S" * 65,
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
            },
            "shipment_id: 65 characters; at most 64 are allowed",
        ),
        (
            {"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00", "event_type": "created"},
            'event_timestamp: "2026-01-01T00:00:00" has no UTC offset',
        ),
        (
            {"shipment_id": "S", "event_timestamp": "yesterday+01:00", "event_type": "created"},
            'event_timestamp: "yesterday+01:00" is not an RFC 3339 time',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "teleported",
            },
            'event_type: unknown value "teleported"',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "status": "lost",
            },
            'status: unknown value "lost"',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "event_data": [1],
            },
            "event_data: must be a JSON object, not array",
        ),
        (
            {"shipment_id": 7, "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"},
            "shipment_id: expected a string, got number",
        ),
        ([1, 2], "record: expected a JSON object, got array"),
    ],
)
def test_each_bad_record_is_refused_with_a_message_naming_the_field(
    record: object, message: str
) -> None:
    accepted, rejected = check(record)
    assert accepted == []
    assert any(error.startswith(message) for error in rejected[0]), rejected


def test_an_unknown_type_says_how_to_add_an_alias_and_the_alias_then_works() -> None:
    record = {"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "DLV"}
    _, rejected = check(record)
    assert "[aliases.event_type] in shipline.toml" in rejected[0][0]
    accepted, _ = check(record, event_type={"DLV": "delivered"})
    assert accepted[0]["event_type"] == "delivered"
    assert accepted[0]["status"] == "delivered"


def test_an_alias_to_a_value_outside_the_vocabulary_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'DLV'"):
        check({"shipment_id": "S"}, event_type={"DLV": "beamed"})


def test_ndjson_keeps_good_lines_beside_a_broken_one() -> None:
    body = (
        '{"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}\n'
        "{not json\n"
    )
    batch = validate(records_to_raw(*parse_json_lines(body)))
    assert batch.accepted.num_rows == 1
    assert batch.rejected[0].errors[0].startswith("record: not valid JSON")
    assert batch.rejected[0].reason.startswith("line 2: record: not valid JSON")
    assert batch.rejected[0].payload == "{not json"


def test_typed_parquet_timestamps_are_accepted_as_they_are() -> None:
    raw = pa.table(
        {
            "shipment_id": ["S"],
            "event_timestamp": pa.array(
                [datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC")
            ),
            "event_type": ["picked_up"],
        }
    )
    batch = validate(raw)
    assert batch.accepted.column("status").to_pylist() == ["in_transit"]
