"""The DynamoDB stream -> stream Lambda -> warehouse: new events ingested, timelines updated.

One invocation at a time (each run moves the one timeline checkpoint). At 10M
events/day (~116/s, more at peaks) throughput is batch size / run time, so batches are
large: a stream record is ~1.3 KB, so 4,000 is ~5.2 MB, under Lambda's 6 MB payload
(Lambda also cuts a batch at 6 MB). The window lets a quiet shard gather a batch
instead of invoking for a handful.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from infra.lambdas import dead_letter_queue, shipline_function
from infra.network import WarehouseNetwork
from infra.warehouse import Warehouse

STREAM_BATCH_SIZE = 4000
STREAM_BATCH_WINDOW = Duration.seconds(60)
# Retried until the records expire from the stream (24 h): a failed batch is the
# warehouse's failure (bad records are dead-lettered inside ingest), and giving up
# early would leave its events out of the warehouse. The iterator-age alarm tells.
STREAM_RETRY_ATTEMPTS = -1


class StreamToWarehouse:
    """The stream Lambda on the events table's inserts, its failed batches to a DLQ."""

    def __init__(
        self,
        scope: Construct,
        env_suffix: str,
        code: lambda_.Code,
        *,
        table: dynamodb.ITable,
        network: WarehouseNetwork,
        warehouse: Warehouse,
    ) -> None:
        self.dlq = dead_letter_queue(
            scope, "StreamFailuresDLQ", f"shipline-stream-dlq-{env_suffix}"
        )
        self.function = shipline_function(
            scope,
            "StreamProcessor",
            f"shipline-stream-{env_suffix}",
            "stream_handler",
            code,
            timeout=Duration.minutes(5),
            memory_mb=1024,
            environment=warehouse.client_environment,
            network=network,
            # Timeline runs move one checkpoint: one at a time.
            reserved_concurrency=1,
        )
        self.function.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                max_batching_window=STREAM_BATCH_WINDOW,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                bisect_batch_on_error=True,
                on_failure=sources.SqsDlq(self.dlq),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {"eventName": lambda_.FilterRule.is_equal("INSERT")}
                    )
                ],
            )
        )
        warehouse.secret.grant_read(self.function)
