"""Lambda entry points: thin wrappers over the facade the CLI and the API call.

Each handler parses the AWS event, calls ``shipline.pipeline.Pipeline``, and maps
the outcome back to what AWS expects. Nothing here re-implements the core.

=====================  =====================  ======================================
handler                trigger                shipline equivalent
=====================  =====================  ======================================
``ingest_handler``     SQS (EventBridge)      validation of ``shipline ingest``
``stream_handler``     DynamoDB stream        ``shipline ingest`` + ``incremental``
``loader_handler``     S3 object created      ``shipline load s3://bucket/key``
``base_handler``       Step Functions 00:00   ``shipline base``
``verify_handler``     Step Functions         ``shipline verify``
``alerts_handler``     schedule, 5 minutes    ``shipline monitor`` (one tick)
=====================  =====================  ======================================

The ingest handler opens no warehouse: it validates with ``Pipeline.validate_records``
and writes to the DynamoDB table (``shipline.aws.events_table``). The others take
the container's cached pipeline over the warehouse (``shipline.aws.container``):
``SHIPLINE_DATABASE`` if set, else a ``redshift://`` URL built at cold start from the
warehouse secret and the workgroup's endpoint (``shipline.aws.warehouse``).

Failed AWS calls are classed by ``shipline.aws.errors``: transient ones are retried,
configuration errors fail the invocation, and a request the service refuses is the
record's own failure.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shipline.aws.config import AwsSettings, load_aws_settings
from shipline.aws.container import pipelines, warehouse_settings
from shipline.aws.errors import aws_error
from shipline.aws.events_table import (
    ITEM_SIZE_LIMIT,
    event_item,
    event_key,
    item_size,
    put_event,
    stream_records,
)
from shipline.aws.sns import SnsNotifier
from shipline.errors import ConfigError, ShiplineError
from shipline.events.validate import ValidatedBatch
from shipline.pipeline import Pipeline
from shipline.settings import load_settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("shipline.aws")

STREAM_SOURCE = "dynamodb-stream"


# Ingest: SQS -> DynamoDB ------------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    message_id: str
    body: str


@dataclass(frozen=True)
class _Refusal:
    """A record that will not be stored, and why (each reason says what to fix)."""

    message: _Message
    reasons: list[str]


def ingest_handler(event: Mapping[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    """Validate each SQS message's EventBridge event and store it once in DynamoDB.

    - A valid event is written with a conditional put on ``(shipment_id, event_key)``;
      an existing item with the same content is a duplicate (nothing written), one
      with different content is a conflict and is dead-lettered.
    - A record that breaks the event contract, is not JSON, or that DynamoDB refuses
      (an item over 400 KB) goes to the rejects queue (``SHIPLINE_AWS_REJECTS_QUEUE_URL``,
      the stack's DLQ) with its reasons as message attributes, and is *not* retried.
    - Only transient failures (throttling, service errors, network) are returned in
      ``batchItemFailures``, so SQS redelivers just those.
    - A configuration error (the table or the rejects queue does not exist, the role
      may not use it, an alias maps to no known value) raises: every record would fail
      alike, and blaming each would move good events to the DLQ with a reason that is
      not theirs. The failed invocation shows on the processor's error alarm; SQS keeps
      the messages and redelivers them, and after 3 receives moves them to the DLQ,
      from where they can be redriven once the setting is fixed.
    """
    aws = load_aws_settings()
    if not aws.rejects_queue_url:
        raise ConfigError(
            "SHIPLINE_AWS_REJECTS_QUEUE_URL is not set, so refused records would have"
            " nowhere to go; set it to the queue that keeps them (the stack's DLQ)"
        )
    messages = [
        _Message(str(record.get("messageId", "")), str(record.get("body", "")))
        for record in event.get("Records", [])
    ]
    parsed, refusals = _parse(messages)
    batch = Pipeline.validate_records([record for _, record in parsed], load_settings())
    refusals += [_Refusal(parsed[r.record_index][0], r.errors) for r in batch.rejected]

    counts, retry = _store(aws, batch, [message for message, _ in parsed], refusals)

    # Dead letters go last: an SQS send cannot be made conditional, so sending them
    # before a configuration error raised would send them again on redelivery.
    sqs: SQSClient = boto3.client("sqs")
    for refusal in refusals:
        if _dead_letter(sqs, aws, refusal):
            counts["rejected"] += 1
        else:
            retry.add(refusal.message.message_id)
    counts["retried"] = len(retry)
    log.info("ingest batch: %s", dict(counts))
    return {
        "batchItemFailures": [
            {"itemIdentifier": m.message_id} for m in messages if m.message_id in retry
        ]
    }


def _parse(messages: list[_Message]) -> tuple[list[tuple[_Message, Any]], list[_Refusal]]:
    """Each message's shipline event (the ``detail`` of an EventBridge envelope, or the
    body itself), and the messages that are not JSON."""
    parsed: list[tuple[_Message, Any]] = []
    refusals: list[_Refusal] = []
    for message in messages:
        try:
            body = json.loads(message.body)
        except json.JSONDecodeError as error:
            refusals.append(_Refusal(message, [f"body: not valid JSON ({error.msg})"]))
            continue
        if isinstance(body, dict) and "detail-type" in body and "detail" in body:
            body = body["detail"]
        parsed.append((message, body))
    return parsed, refusals


def _store(
    aws: AwsSettings, batch: ValidatedBatch, messages: list[_Message], refusals: list[_Refusal]
) -> tuple[Counter[str], set[str]]:
    """Put each accepted event; counts by outcome, and the messages to retry.

    ``messages`` are the validated records' messages, by record index. A record
    DynamoDB refuses, or that conflicts with a stored event, is added to ``refusals``.
    """
    counts: Counter[str] = Counter()
    retry: set[str] = set()
    dynamodb = boto3.client("dynamodb")
    received_at = int(time.time())
    for row in batch.accepted.to_pylist():
        message = messages[int(row["record_index"])]
        if not row["is_event"] or row["estimates"] or row["references"]:
            refusals.append(_Refusal(message, [_SIDE_DATA_REFUSED]))
            continue
        item = event_item(row, received_at, aws.ttl_days, message.message_id)
        try:
            outcome = put_event(dynamodb, aws.events_table, item)
        except (ClientError, BotoCoreError) as error:
            failure = aws_error(
                error,
                f"put event {row['event_id']!r} into DynamoDB table {aws.events_table}",
                "SHIPLINE_AWS_EVENTS_TABLE",
            )
            if isinstance(failure, ConfigError):
                raise failure from error
            if failure.transient:
                log.warning("message %s will be retried: %s", message.message_id, failure)
                retry.add(message.message_id)
            else:
                refusals.append(_Refusal(message, [_refused_item(item, failure)]))
            continue
        if outcome == "conflict":
            reason = (
                f"event_id: {row['event_id']!r} is already stored with different content;"
                " the first write wins (give the event a new event_id)"
            )
            refusals.append(_Refusal(message, [reason]))
        else:
            counts[outcome] += 1
    return counts, retry


_SIDE_DATA_REFUSED = (
    "estimates, references: the DynamoDB events table keeps events only; send records"
    " with estimates or references to the HTTP API or a file load instead"
)


def _refused_item(item: Mapping[str, Any], failure: ShiplineError) -> str:
    """Why DynamoDB would not take the item, and what to change."""
    size = item_size(item)
    if size > ITEM_SIZE_LIMIT:
        return (
            f"dynamodb: the event is {size:,} bytes as an item, over DynamoDB's 400 KB"
            " limit; make event_data smaller (keep large payloads in S3 and send their"
            f" address) ({failure})"
        )
    return f"dynamodb: {failure}; fix the event so that DynamoDB accepts it as an item"


def _dead_letter(client: SQSClient, aws: AwsSettings, refusal: _Refusal) -> bool:
    """Send a refused record to the rejects queue; False if it must be retried instead.

    A send that fails transiently, or that SQS refuses for this message, is retried
    through ``batchItemFailures``; if it never succeeds, the queue's redrive policy
    moves the message to the DLQ itself after 3 receives, so it is still kept.
    """
    message_id = refusal.message.message_id
    reason = "; ".join(refusal.reasons)
    try:
        client.send_message(
            QueueUrl=str(aws.rejects_queue_url),
            MessageBody=refusal.message.body or "(empty body)",
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:4096]},
                "errors": {"DataType": "String", "StringValue": json.dumps(refusal.reasons)},
                "source": {"DataType": "String", "StringValue": "ingest_handler"},
                "original_message_id": {"DataType": "String", "StringValue": message_id},
            },
        )
    except (ClientError, BotoCoreError) as error:
        failure = aws_error(
            error, f"dead-letter message {message_id}", "SHIPLINE_AWS_REJECTS_QUEUE_URL"
        )
        if isinstance(failure, ConfigError):
            raise failure from error
        log.warning(
            "message %s will be retried: %s (it was refused: %s)", message_id, failure, reason
        )
        return False
    log.info("message %s dead-lettered: %s", message_id, reason)
    return True


# Stream: DynamoDB -> warehouse ---------------------------------------------------------


def stream_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Append the stream's new events to ``shipment_events``, then run an incremental pass.

    Only INSERT records carry new events (the stack filters on them too). The
    warehouse ingest is idempotent, so a retried batch adds nothing twice, and a
    record the warehouse refuses goes to its ``dead_letters`` (source
    ``dynamodb-stream``). An error propagates: Lambda retries the batch, then sends
    it to the stream's DLQ.
    """
    records = stream_records(event)
    with pipelines.open(warehouse_settings(load_aws_settings())) as pipeline:
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


# Loader: S3 -> warehouse tables --------------------------------------------------------


class LoadRetryError(RuntimeError):
    """A file could not be loaded for a transient reason; Lambda's async retry runs."""


def loader_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Load exactly the object each S3 notification record names; one outcome each.

    ``Pipeline.load_object`` sends the upload, success and failure messages to SNS
    (``SHIPLINE_AWS_TOPIC_ARN``) besides the settings' notifiers; a failed publish is
    logged and never fails a load. A key under the quarantine prefix, a folder marker
    or an object already gone is ``skipped`` with the reason. A file that failed and
    was quarantined is done (its failure was reported); one that failed without
    quarantine (storage or database unreachable) raises ``LoadRetryError`` so Lambda
    retries the event and finally sends it to the loader's DLQ (the ledger makes the
    files already loaded ``skipped`` on the retry).
    """
    aws = load_aws_settings()
    notifier = SnsNotifier(boto3.client("sns"), aws.topic_arn) if aws.topic_arn else None
    with pipelines.open(warehouse_settings(aws)) as pipeline:
        outcomes = [pipeline.load_object(url, notifier) for url in s3_objects(event)]
        retry = [o for o in outcomes if o["retryable"]]
        if retry:
            raise LoadRetryError(
                "; ".join(f"{o['file_key']}: {o['error']}" for o in retry) + " (will be retried)"
            )
    return {"outcomes": outcomes}


def s3_objects(event: Mapping[str, Any]) -> list[str]:
    """``s3://bucket/key`` of each object-created record of an S3 notification.

    Keys arrive URL-encoded with ``+`` for spaces and are decoded. Other records
    (and S3's ``s3:TestEvent``, which has none) name no new object.
    """
    found = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
            log.info("not an object-created record, ignored: %s", record.get("eventName"))
            continue
        s3 = record.get("s3", {})
        bucket = str(s3.get("bucket", {}).get("name", ""))
        key = unquote_plus(str(s3.get("object", {}).get("key", "")))
        if bucket and key:
            found.append(f"s3://{bucket}/{key}")
    return found


# Nightly: base and verify ---------------------------------------------------------------


def base_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The daily base run (``shipline base``); ``{"as_of": "YYYY-MM-DD"}`` optionally."""
    as_of = event.get("as_of")
    with pipelines.open(warehouse_settings(load_aws_settings())) as pipeline:
        run = pipeline.base(
            as_of=date.fromisoformat(str(as_of)) if as_of else None,
            rebuild=bool(event.get("rebuild", False)),
        )
    return run.as_dict()


def verify_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The drift audit (``shipline verify``); the state machine branches on ``drift``."""
    with pipelines.open(warehouse_settings(load_aws_settings())) as pipeline:
        result = pipeline.verify()
    return {
        "drift": result.drift,
        "shipments_checked": result.shipments_checked,
        "rows_checked": result.rows_checked,
        "differing_rows": result.differing_rows,
        "differing_summaries": result.differing_summaries,
        "differing_facts": result.differing_facts,
        "missing_shipments": result.missing_shipments,
        "held_shipments": result.held_shipments,
        "pending_events": result.pending_events,
        "stuck": result.stuck,
        "duration_ms": result.duration_ms,
        "examples": json.loads(json.dumps(result.examples, default=str)),
    }


# Alerts: every 5 minutes -------------------------------------------------------------------


def alerts_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """One monitor tick (``Pipeline.monitor_tick``), publishing rule changes to SNS.

    The tick records the metrics once and evaluates the rules (``alerts_file``, else the
    packaged defaults); a rule that starts firing or resolves is published once. If
    SNS fails, the rule keeps its previous state and the invocation fails, so the
    next scheduled run publishes it again: an alert is never lost to a failed publish.
    Without ``SHIPLINE_AWS_TOPIC_ARN`` the settings' notifiers (the log) are used.
    """
    aws = load_aws_settings()
    notifier = SnsNotifier(boto3.client("sns"), aws.topic_arn) if aws.topic_arn else None
    with pipelines.open(warehouse_settings(aws)) as pipeline:
        try:
            outcomes = pipeline.monitor_tick(notifier=notifier)
        except (ClientError, BotoCoreError) as error:
            raise aws_error(
                error, f"publish an alert to SNS topic {aws.topic_arn}", "SHIPLINE_AWS_TOPIC_ARN"
            ) from error
    firing = [o.rule for o in outcomes if o.state == "firing"]
    published = sum(o.changed for o in outcomes) if notifier is not None else 0
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
