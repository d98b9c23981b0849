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
                "shipment_id": " SHP-1",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
            },
            'shipment_id: " SHP-1" begins or ends with a space; send the identifier without it',
        ),
        (
            {
                "shipment_id": "SHP\t1",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
            },
            'shipment_id: "SHP\\t1" holds a control character',
        ),
        (
            {
                "shipment_id": "S" * 129,
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
            },
            "shipment_id: 129 characters; at most 128 are allowed",
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "revision": "first",
            },
            'revision: "first" is not a whole number',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "updated_at": "2026-01-01 noon",
            },
            'updated_at: "2026-01-01 noon" is not an RFC 3339 time',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "retracted": "yes",
            },
            'retracted: "yes" is not true or false',
        ),
        (
            {
                "shipment_id": "S",
                "event_timestamp": "2026-01-01T00:00:00Z",
                "event_type": "created",
                "revision": True,
            },
            "revision: expected a number or a string, got boolean",
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


def test_a_gs1_digital_link_is_a_shipment_id_and_updated_at_is_a_revision() -> None:
    accepted, rejected = check(
        {
            "shipment_id": "https://id.gs1.org/00/106141411234567897",
            "event_timestamp": "2026-01-01T00:00:00Z",
            "event_type": "created",
            "event_id": "urn:uuid:6d6f8e0e-1",
            "updated_at": "2026-01-02T00:00:00Z",
        },
        {
            "shipment_id": "SHP 1",
            "event_timestamp": "2026-01-01T00:00:00Z",
            "event_type": "created",
            "revision": 3,
            "retracted": True,
        },
    )
    assert rejected == []
    first, second = sorted(accepted, key=lambda event: event["record_index"])
    assert first["shipment_id"] == "https://id.gs1.org/00/106141411234567897"
    assert first["revision"] == int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1_000_000)
    assert not first["retracted"]
    assert (second["revision"], second["retracted"]) == (3, True)


def test_revision_information_changes_the_content_only_where_it_is_given() -> None:
    plain = {"shipment_id": "S", "event_timestamp": "2026-01-01T00:00:00Z", "event_type": "created"}
    [before], _ = check(plain)
    [revised], _ = check({**plain, "revision": 1})
    [retracted], _ = check({**plain, "retracted": True})
    assert before["content_hash"] == "fe4a9970ecbfc0c07c0e84309bdd2cd1"
    assert len({before["content_hash"], revised["content_hash"], retracted["content_hash"]}) == 3
