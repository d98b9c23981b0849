"""Lambda entry points: thin wrappers over the facade the CLI and the API call.

Each handler parses the AWS event, calls ``shipline.pipeline.Pipeline`` (or the
event contract's ``validate``), and maps the outcome back to what AWS expects.
Nothing here re-implements the core.

=====================  =====================  ======================================
handler                trigger                shipline equivalent
=====================  =====================  ======================================
``ingest_handler``     SQS (EventBridge)      validation of ``shipline ingest``
``stream_handler``     DynamoDB stream        ``shipline ingest`` + ``incremental``
``loader_handler``     S3 object created      ``shipline load s3://bucket/key``
``base_handler``       Step Functions 00:00   ``shipline base``
``verify_handler``     Step Functions         ``shipline verify``
``alerts_handler``     schedule, 5 minutes    ``shipline alerts check``
=====================  =====================  ======================================

The DynamoDB table is keyed ``(shipment_id, event_key)`` where ``event_key`` is
``<event_timestamp>#<event_id>``: ``event_id`` is shipline's idempotency key (given,
or derived from shipment, time and type), so two events of one shipment at the same
instant are two rows, and a redelivery of the same event is a duplicate.

The warehouse is whatever ``SHIPLINE_DATABASE`` names: a DuckDB file, or a
PostgreSQL or Redshift URL. On AWS the stack sets no ``SHIPLINE_DATABASE``: the
warehouse handlers build a ``redshift://`` URL at cold start from the warehouse
secret (``SHIPLINE_AWS_WAREHOUSE_SECRET_ARN``) and the workgroup's endpoint
(``SHIPLINE_AWS_WAREHOUSE_HOST``); see ``shipline.aws.warehouse``. An explicit
``SHIPLINE_DATABASE`` always wins.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from shipline.aws.config import AwsSettings, load_aws_settings
from shipline.aws.sns import SnsNotifier
from shipline.aws.warehouse import warehouse_url
from shipline.errors import LoadError
from shipline.events.shapes import records_to_raw
from shipline.events.validate import validate
from shipline.loader.files import table_for_key
from shipline.notify.base import failure_message, success_message, upload_message
from shipline.pipeline import Pipeline
from shipline.settings import Settings, load_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("shipline.aws")

STREAM_SOURCE = "dynamodb-stream"
PROCESSING_STATUS = "stored"
"""``processing_status`` of a stored event (the ``status-timestamp-index`` GSI's key)."""

TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
"""DynamoDB/SQS error codes worth a retry; the message goes into ``batchItemFailures``."""

BAD_RECORD_CODES = frozenset({"ValidationException"})
"""DynamoDB refusing the item itself (e.g. larger than 400 KB): a bad record, not retried."""

_EVENT_FIELDS = (
    "event_id",
    "shipment_id",
    "event_timestamp",
    "event_type",
    "status",
    "location_id",
    "carrier",
)


def warehouse_settings(aws: AwsSettings) -> Settings:
    """The core's settings, with the warehouse secret's URL unless a database is set.

    ``SHIPLINE_DATABASE`` (or ``database`` in ``shipline.toml``) always wins; without
    it and without a warehouse secret, the settings' default applies as anywhere.
    """
    settings = load_settings()
    if "database" in settings.model_fields_set or not aws.warehouse_secret_arn:
        return settings
    return settings.model_copy(update={"database": warehouse_url(aws)})


# Ingest: SQS -> DynamoDB ------------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    message_id: str
    body: str
    record: Any


def ingest_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    """Validate each SQS message's EventBridge event and store it once in DynamoDB.

    - A valid event is written with a conditional put on ``(shipment_id, event_key)``;
      an existing item with the same content is a duplicate (nothing written), one
      with different content is a conflict and is dead-lettered.
    - A record that breaks the event contract (or is not JSON) is sent to the rejects
      queue (``SHIPLINE_AWS_REJECTS_QUEUE_URL``, the stack's DLQ) with its reasons as
      message attributes, and is *not* retried.
    - Only transient failures (throttling, service errors, network) are returned in
      ``batchItemFailures``, so SQS redelivers just those.
    """
    aws = load_aws_settings()
    settings = load_settings()
    dynamodb: DynamoDBClient = boto3.client("dynamodb")
    sqs: SQSClient = boto3.client("sqs")
    failures: list[str] = []
    counts = {"stored": 0, "duplicates": 0, "rejected": 0, "retried": 0}

    def reject(message_id: str, body: str, reasons: Sequence[str]) -> None:
        counts["rejected"] += 1
        if not _dead_letter(sqs, aws, message_id, body, reasons):
            counts["retried"] += 1
            failures.append(message_id)

    messages: list[_Message] = []
    for sqs_record in event.get("Records", []):
        message_id = str(sqs_record.get("messageId", ""))
        body = str(sqs_record.get("body", ""))
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError as error:
            reject(message_id, body, [f"body: not valid JSON ({error.msg})"])
            continue
        messages.append(_Message(message_id, body, _detail(parsed)))

    batch = validate(
        records_to_raw([m.record for m in messages]),
        settings.aliases.event_type,
        settings.aliases.status,
    )
    for rejection in batch.rejected:
        message = messages[rejection.record_index]
        reject(message.message_id, message.body, rejection.errors)

    received_at = int(time.time())
    for row in batch.accepted.to_pylist():
        message = messages[int(row["record_index"])]
        try:
            outcome = _put_event(dynamodb, aws, row, received_at, message.message_id)
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, ClientError) and _code(error) in BAD_RECORD_CODES:
                reject(message.message_id, message.body, [f"dynamodb: {error}"])
                continue
            log.warning("message %s will be retried: %s", message.message_id, error)
            counts["retried"] += 1
            failures.append(message.message_id)
            continue
        if outcome == "conflict":
            reject(
                message.message_id,
                message.body,
                [
                    f"event_id: {row['event_id']!r} is already stored with different content;"
                    " the first write wins (give the event a new event_id)"
                ],
            )
        else:
            counts[outcome] += 1
    log.info("ingest batch: %s", counts)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def _detail(parsed: Any) -> Any:
    """The shipline event inside an EventBridge envelope (or the body itself)."""
    if isinstance(parsed, dict) and "detail-type" in parsed and "detail" in parsed:
        return parsed["detail"]
    return parsed


def event_key(event_timestamp: datetime, event_id: str) -> str:
    """The table's sort key: fixed-width UTC time, then the idempotency key."""
    return f"{iso_utc(event_timestamp)}#{event_id}"


def iso_utc(moment: datetime) -> str:
    """``2026-01-02T03:04:05.000006Z``: fixed width, so it sorts as time does."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _put_event(
    client: DynamoDBClient,
    aws: AwsSettings,
    row: Mapping[str, Any],
    received_at: int,
    message_id: str,
) -> str:
    """Conditional put; ``"stored"``, ``"duplicates"`` or ``"conflict"``."""
    key = event_key(row["event_timestamp"], row["event_id"])
    item: dict[str, Any] = {
        "shipment_id": {"S": row["shipment_id"]},
        "event_key": {"S": key},
        "event_id": {"S": row["event_id"]},
        "event_timestamp": {"S": iso_utc(row["event_timestamp"])},
        "event_type": {"S": row["event_type"]},
        "status": {"S": row["status"]},
        "content_hash": {"S": row["content_hash"]},
        "processing_status": {"S": PROCESSING_STATUS},
        "received_at": {"N": str(received_at)},
        "expires_at": {"N": str(received_at + aws.ttl_days * 86_400)},
        "sqs_message_id": {"S": message_id},
    }
    for name in ("location_id", "carrier", "event_data"):
        if row.get(name) is not None:
            item[name] = {"S": str(row[name])}
    try:
        client.put_item(
            TableName=aws.events_table,
            Item=item,
            ConditionExpression="attribute_not_exists(event_key)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if _code(error) != "ConditionalCheckFailedException":
            raise
        response: Mapping[str, Any] = error.response
        existing: Mapping[str, Any] | None = response.get("Item")
        if existing is None:
            found = client.get_item(
                TableName=aws.events_table,
                Key={"shipment_id": item["shipment_id"], "event_key": item["event_key"]},
                ConsistentRead=True,
            )
            existing = found.get("Item", {})
        stored_hash = dict(existing.get("content_hash", {})).get("S")
        return "duplicates" if stored_hash == row["content_hash"] else "conflict"
    return "stored"


def _dead_letter(
    client: SQSClient, aws: AwsSettings, message_id: str, body: str, reasons: Sequence[str]
) -> bool:
    """Send a refused record to the rejects queue; False if it must be retried instead."""
    reason = "; ".join(reasons)
    if not aws.rejects_queue_url:
        log.error("no rejects queue configured; message %s retried: %s", message_id, reason)
        return False
    try:
        client.send_message(
            QueueUrl=aws.rejects_queue_url,
            MessageBody=body or "(empty body)",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:4096]},
                "errors": {"DataType": "String", "StringValue": json.dumps(list(reasons))},
                "source": {"DataType": "String", "StringValue": "ingest_handler"},
                "original_message_id": {"DataType": "String", "StringValue": message_id},
            },
        )
    except (ClientError, BotoCoreError) as error:
        log.warning("cannot dead-letter message %s, retrying it: %s", message_id, error)
        return False
    log.info("message %s dead-lettered: %s", message_id, reason)
    return True


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# Stream: DynamoDB -> warehouse ---------------------------------------------------------


def stream_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Append the stream's new events to ``shipment_events``, then run an incremental pass.

    Only INSERT records carry new events (the stack filters on them too). The
    warehouse ingest is idempotent, so a retried batch adds nothing twice. An error
    propagates: Lambda retries the batch, then sends it to the stream's DLQ.
    """
    records = stream_records(event)
    with Pipeline(warehouse_settings(load_aws_settings())) as pipeline:
        result = pipeline.ingest_records(records, STREAM_SOURCE)
        run = pipeline.incremental() if result.accepted else None
    summary = {
        "received": result.received,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "incremental": run.as_dict() if run is not None else None,
    }
    log.info("stream batch: %s", {k: v for k, v in summary.items() if k != "incremental"})
    return summary


def stream_records(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """shipline event records from a DynamoDB stream event's INSERT images."""
    deserializer = TypeDeserializer()
    records: list[dict[str, Any]] = []
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage", {})
        item = {name: deserializer.deserialize(value) for name, value in image.items()}
        out: dict[str, Any] = {name: item[name] for name in _EVENT_FIELDS if name in item}
        if "event_data" in item:
            try:
                out["event_data"] = json.loads(str(item["event_data"]))
            except json.JSONDecodeError:
                out["event_data"] = item["event_data"]  # refused with a reason by ingest
        records.append(out)
    return records


# Loader: S3 -> warehouse tables --------------------------------------------------------


class LoadRetryError(RuntimeError):
    """A file could not be loaded for a transient reason; Lambda's async retry runs."""


def loader_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Load each object of an S3 notification with ``Pipeline.load_files``.

    Publishes the upload, success and failure messages to SNS
    (``SHIPLINE_AWS_TOPIC_ARN``). A file that failed and was quarantined is done
    (its failure is reported); one that failed without quarantine (storage or
    database unreachable) raises ``LoadRetryError`` so Lambda retries the event and
    finally sends it to the loader's DLQ.
    """
    aws = load_aws_settings()
    settings = warehouse_settings(aws)
    notifier = SnsNotifier(boto3.client("sns"), aws.topic_arn) if aws.topic_arn else None
    outcomes: list[dict[str, Any]] = []
    with Pipeline(settings) as pipeline:
        for bucket, key, size in s3_objects(event):
            if _skipped_key(settings, key):
                continue
            if notifier is not None:
                notifier.send(upload_message(f"s3://{bucket}/{key}", size, _table_or_none(key)))
            for outcome in pipeline.load_files([f"s3://{bucket}/{key}"]):
                if outcome["file_key"] != f"s3://{bucket}/{key}":
                    continue  # a longer key under the same prefix: its own event loads it
                outcomes.append(outcome)
                if notifier is not None:
                    _report(notifier, outcome)
    retry = [o for o in outcomes if o["status"] == "failed" and not o["quarantined_to"]]
    if retry:
        raise LoadRetryError(
            "; ".join(f"{o['file_key']}: {o['error']}" for o in retry) + " (will be retried)"
        )
    return {"outcomes": outcomes}


def s3_objects(event: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(bucket, key, size) of each record of an S3 notification; keys are URL-decoded."""
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        bucket = str(s3.get("bucket", {}).get("name", ""))
        obj = s3.get("object", {})
        key = unquote_plus(str(obj.get("key", "")))
        if bucket and key:
            found.append((bucket, key, int(obj.get("size", 0))))
    return found


def _skipped_key(settings: Settings, key: str) -> bool:
    """Quarantined files and folder markers raise notifications too; they are not loads."""
    return key.endswith("/") or key.startswith(settings.loader_s3_quarantine_prefix)


def _table_or_none(key: str) -> str | None:
    try:
        return table_for_key(key)
    except LoadError:
        return None


def _report(notifier: SnsNotifier, outcome: Mapping[str, Any]) -> None:
    if outcome["status"] == "loaded":
        notifier.send(
            success_message(
                str(outcome["file_key"]),
                str(outcome["table"] or ""),
                int(outcome["rows"]),
                int(outcome["inserted"]),
                int(outcome["updated"]),
                float(outcome["duration_ms"]),
            )
        )
    elif outcome["status"] == "failed":
        notifier.send(
            failure_message(
                str(outcome["file_key"]),
                outcome["table"],
                str(outcome["error"]),
                outcome["quarantined_to"],
            )
        )


# Nightly: base and verify ---------------------------------------------------------------


def base_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The daily base run (``shipline base``); ``{"as_of": "YYYY-MM-DD"}`` optionally."""
    as_of = event.get("as_of") if isinstance(event, Mapping) else None
    with Pipeline(warehouse_settings(load_aws_settings())) as pipeline:
        run = pipeline.base(
            as_of=date.fromisoformat(str(as_of)) if as_of else None,
            rebuild=bool(event.get("rebuild", False)),
        )
    return run.as_dict()


def verify_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The drift audit (``shipline verify``); the state machine branches on ``drift``."""
    with Pipeline(warehouse_settings(load_aws_settings())) as pipeline:
        result = pipeline.verify()
    return {
        "drift": result.drift,
        "shipments_checked": result.shipments_checked,
        "rows_checked": result.rows_checked,
        "differing_rows": result.differing_rows,
        "differing_summaries": result.differing_summaries,
        "missing_shipments": result.missing_shipments,
        "duration_ms": result.duration_ms,
        "examples": json.loads(json.dumps(result.examples, default=str)),
    }


# Alerts: every 5 minutes -------------------------------------------------------------------


def alerts_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Record the monitor's metrics, evaluate the alert rules, publish changes to SNS.

    The rules are the monitor's (``alerts_file``, else the packaged defaults); a rule
    that starts firing or resolves is published once (the monitor keeps the state).
    """
    from shipline.monitor.alerts import alert_message

    aws = load_aws_settings()
    with Pipeline(warehouse_settings(aws)) as pipeline:
        pipeline.record_metrics()
        outcomes = pipeline.check_alerts(notify=False)
    published = 0
    if aws.topic_arn:
        notifier = SnsNotifier(boto3.client("sns"), aws.topic_arn)
        for outcome in outcomes:
            if outcome.changed:
                notifier.send(alert_message(outcome))
                published += 1
    firing = [o.rule for o in outcomes if o.state == "firing"]
    log.info("alerts: %d firing, %d published", len(firing), published)
    return {"firing": firing, "published": published, "outcomes": [o.as_dict() for o in outcomes]}


__all__ = [
    "LoadRetryError",
    "alerts_handler",
    "base_handler",
    "event_key",
    "ingest_handler",
    "loader_handler",
    "s3_objects",
    "stream_handler",
    "stream_records",
    "verify_handler",
    "warehouse_settings",
]
