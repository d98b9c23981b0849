"""Ingestion (seed 003): EventBridge -> SQS (+DLQ) -> processor Lambda -> DynamoDB."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.lambdas import dead_letter_queue, shipline_function
from shipline.aws.config import TTL_DAYS  # the processor stamps expires_at = received_at + it

# Seed 003's values.
PROCESSOR_TIMEOUT = Duration.seconds(60)
PROCESSOR_MEMORY_MB = 512
QUEUE_VISIBILITY = Duration.seconds(6 * 60)  # 6x the processor's timeout
QUEUE_RETENTION = Duration.days(4)
LONG_POLL = Duration.seconds(20)
DLQ_VISIBILITY = Duration.seconds(300)
MAX_RECEIVE_COUNT = 3
BATCH_SIZE = 10
BATCH_WINDOW = Duration.seconds(10)
RULE_RETRY_ATTEMPTS = 2
RULE_MAX_EVENT_AGE = Duration.hours(2)
TTL_ATTRIBUTE = "expires_at"
GSI_NAME = "status-timestamp-index"
ARCHIVE_RETENTION = Duration.days(7)
EVENT_SOURCE = "shipment.service"


class Ingestion:
    """The event bus, its rule and archive, the queue and its DLQ, the table and the processor."""

    def __init__(self, scope: Construct, env_suffix: str, code: lambda_.Code) -> None:
        self.dlq = dead_letter_queue(
            scope,
            "ShipmentEventsDLQ",
            f"shipmentevents-dlq-{env_suffix}",
            visibility_timeout=DLQ_VISIBILITY,
        )
        self.queue = sqs.Queue(
            scope,
            "ShipmentEventsQueue",
            queue_name=f"shipmentevents-queue-{env_suffix}",
            visibility_timeout=QUEUE_VISIBILITY,
            retention_period=QUEUE_RETENTION,
            receive_message_wait_time=LONG_POLL,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.dlq
            ),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.table = _events_table(scope, env_suffix)
        self.bus = events.EventBus(
            scope, "ShipmentEventBus", event_bus_name=f"shipmentevents-{env_suffix}"
        )
        self.rule = events.Rule(
            scope,
            "ShipmentEventRule",
            rule_name=f"shipment-event-rule-{env_suffix}",
            event_bus=self.bus,
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE],
                detail_type=events.Match.prefix("shipment."),
            ),
            targets=[
                targets.SqsQueue(
                    self.queue,
                    retry_attempts=RULE_RETRY_ATTEMPTS,
                    max_event_age=RULE_MAX_EVENT_AGE,
                    dead_letter_queue=self.dlq,
                )
            ],
        )
        events.Archive(
            scope,
            "ShipmentEventArchive",
            archive_name=f"shipmentevents-archive-{env_suffix}",
            source_event_bus=self.bus,
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=ARCHIVE_RETENTION,
        )
        self.processor = self._processor(scope, env_suffix, code)

    def _processor(self, scope: Construct, env_suffix: str, code: lambda_.Code) -> lambda_.Function:
        processor = shipline_function(
            scope,
            "ShipmentEventProcessor",
            f"shipment-event-processor-{env_suffix}",
            "ingest_handler",
            code,
            timeout=PROCESSOR_TIMEOUT,
            memory_mb=PROCESSOR_MEMORY_MB,
            environment={
                "SHIPLINE_AWS_EVENTS_TABLE": self.table.table_name,
                "SHIPLINE_AWS_REJECTS_QUEUE_URL": self.dlq.queue_url,
                "SHIPLINE_AWS_TTL_DAYS": str(TTL_DAYS),
                "SHIPLINE_ENVIRONMENT": env_suffix,
            },
        )
        processor.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCH_WINDOW,
                report_batch_item_failures=True,
            )
        )
        # Only the handler's calls: the conditional PutItem, and GetItem when a failed
        # condition returns no item (grant_write_data would add Batch/Update/Delete).
        self.table.grant(processor, "dynamodb:PutItem", "dynamodb:GetItem")
        self.dlq.grant_send_messages(processor)
        return processor


def _events_table(scope: Construct, env_suffix: str) -> dynamodb.Table:
    """The events, kept ``TTL_DAYS``; their stream feeds the warehouse (``infra.stream``)."""
    table = dynamodb.Table(
        scope,
        "EventsTable",
        table_name=f"shipmentevents-{env_suffix}",
        partition_key=dynamodb.Attribute(name="shipment_id", type=dynamodb.AttributeType.STRING),
        # <event_timestamp>#<event_id>: the idempotency key, so two events of one
        # shipment at the same instant are two items (seed 003 keyed on time alone).
        sort_key=dynamodb.Attribute(name="event_key", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=TTL_ATTRIBUTE,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        removal_policy=RemovalPolicy.RETAIN,
    )
    table.add_global_secondary_index(
        index_name=GSI_NAME,
        partition_key=dynamodb.Attribute(
            name="processing_status", type=dynamodb.AttributeType.STRING
        ),
        sort_key=dynamodb.Attribute(name="event_timestamp", type=dynamodb.AttributeType.STRING),
        projection_type=dynamodb.ProjectionType.ALL,
    )
    return table
