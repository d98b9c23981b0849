"""The DynamoDB events table: an accepted event as an item, and items back as events.

The table is keyed ``(shipment_id, event_key)`` where ``event_key`` is
``<event_timestamp>#<event_id>``: ``event_id`` is shipline's idempotency key (given,
or derived from shipment, time and type), so two events of one shipment at the same
instant are two items, and a redelivery of the same event is the same key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from shipline.aws.errors import error_code
from shipline.events.validate import RAW_COLUMNS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROCESSING_STATUS = "stored"
"""``processing_status`` of a stored event (the ``status-timestamp-index`` GSI's key)."""

EVENT_FIELDS = tuple(name for name in RAW_COLUMNS if name != "event_data")
"""The item attributes that are event fields (``event_data`` is JSON text beside them)."""

ITEM_SIZE_LIMIT = 400 * 1024
"""DynamoDB's largest item, counting attribute names and values."""

PutOutcome = Literal["stored", "duplicates", "conflict"]


def event_key(event_timestamp: datetime, event_id: str) -> str:
    """The table's sort key: fixed-width UTC time, then the idempotency key."""
    return f"{iso_utc(event_timestamp)}#{event_id}"


def iso_utc(moment: datetime) -> str:
    """``2026-01-02T03:04:05.000006Z``: fixed width, so it sorts as time does."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_item(
    row: Mapping[str, Any], received_at: int, ttl_days: int, message_id: str
) -> dict[str, Any]:
    """The item of one accepted event (a row of ``ValidatedBatch.accepted``)."""
    item: dict[str, Any] = {
        "shipment_id": {"S": row["shipment_id"]},
        "event_key": {"S": event_key(row["event_timestamp"], row["event_id"])},
        "event_id": {"S": row["event_id"]},
        "event_timestamp": {"S": iso_utc(row["event_timestamp"])},
        "event_type": {"S": row["event_type"]},
        "status": {"S": row["status"]},
        "content_hash": {"S": row["content_hash"]},
        "processing_status": {"S": PROCESSING_STATUS},
        "received_at": {"N": str(received_at)},
        "expires_at": {"N": str(received_at + ttl_days * 86_400)},
        "sqs_message_id": {"S": message_id},
    }
    for name in ("location_id", "carrier", "event_data"):
        if row.get(name) is not None:
            item[name] = {"S": str(row[name])}
    return item


def item_size(item: Mapping[str, Any]) -> int:
    """About the bytes DynamoDB counts for an item: names and values, UTF-8.

    Exact for the string and number attributes ``event_item`` writes (a number is
    counted as its digits, a little more than DynamoDB's packed form).
    """
    return sum(
        len(name.encode()) + sum(len(str(value).encode()) for value in typed.values())
        for name, typed in item.items()
    )


def put_event(client: DynamoDBClient, table: str, item: Mapping[str, Any]) -> PutOutcome:
    """Write the item unless its key exists; ``"stored"``, ``"duplicates"`` or ``"conflict"``.

    An existing item with the same ``content_hash`` is the same event delivered again;
    one with another hash is a different event under the same key (the first write
    wins). Any other failure raises botocore's error for the caller to classify.
    """
    try:
        client.put_item(
            TableName=table,
            Item=dict(item),
            ConditionExpression="attribute_not_exists(event_key)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        response: Mapping[str, Any] = error.response
        existing: Mapping[str, Any] | None = response.get("Item")
        if existing is None:  # an older endpoint that does not return the item
            found = client.get_item(
                TableName=table,
                Key={"shipment_id": item["shipment_id"], "event_key": item["event_key"]},
                ConsistentRead=True,
            )
            existing = found.get("Item", {})
        stored_hash = dict(existing.get("content_hash", {})).get("S")
        return "duplicates" if stored_hash == item["content_hash"]["S"] else "conflict"
    return "stored"


def stream_records(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """shipline event records from a DynamoDB stream event's INSERT images."""
    deserializer = TypeDeserializer()
    records: list[dict[str, Any]] = []
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage", {})
        item = {name: deserializer.deserialize(value) for name, value in image.items()}
        out: dict[str, Any] = {name: item[name] for name in EVENT_FIELDS if name in item}
        if "event_data" in item:
            try:
                out["event_data"] = json.loads(str(item["event_data"]))
            except json.JSONDecodeError:
                out["event_data"] = item["event_data"]  # refused with a reason by ingest
        records.append(out)
    return records
