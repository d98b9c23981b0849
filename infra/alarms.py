"""The CloudWatch alarms, as one table, and the loop that raises them to the notifications topic.

The table is built from the parts because each row's metric (and, for the stream
and loader DLQs, its description) refers to one of their resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.ingestion import Ingestion
from infra.loader import Loader
from infra.stream import StreamToWarehouse

PERIOD = Duration.minutes(1)
ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, named ``shipline-<name>-<env>``."""

    construct_id: str
    name: str
    description: str
    metric: cloudwatch.IMetric
    threshold: float
    comparison: cloudwatch.ComparisonOperator
    periods: int
    missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING


@dataclass(frozen=True)
class ProcessorMetrics:
    """The ingest processor's errors and invocations per minute, and the rate of errors."""

    errors: cloudwatch.IMetric
    invocations: cloudwatch.IMetric
    error_rate: cloudwatch.IMetric

    @classmethod
    def of(cls, processor: lambda_.IFunction) -> ProcessorMetrics:
        errors = processor.metric_errors(period=PERIOD, statistic="Sum")
        invocations = processor.metric_invocations(period=PERIOD, statistic="Sum")
        error_rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={"errors": errors, "invocations": invocations},
            label="Processor error rate (%)",
            period=PERIOD,
        )
        return cls(errors=errors, invocations=invocations, error_rate=error_rate)


def alarm_table(
    ingestion: Ingestion,
    stream: StreamToWarehouse,
    loader: Loader,
    processor: ProcessorMetrics,
) -> tuple[AlarmSpec, ...]:
    """Every alarm of the stack, in the order the dashboard's alarm widget lists them."""
    return (
        AlarmSpec(
            construct_id="HighQueueDepthAlarm",
            name="queue-depth",
            description="More than 1000 events wait in the queue",
            metric=_visible_messages(ingestion.queue),
            threshold=1000,
            comparison=ABOVE,
            periods=2,
        ),
        AlarmSpec(
            construct_id="HighLambdaErrorRateAlarm",
            name="processor-error-rate",
            description="More than 5% of processor invocations fail",
            metric=processor.error_rate,
            threshold=5,
            comparison=ABOVE,
            periods=3,
        ),
        AlarmSpec(
            construct_id="MessagesInDLQAlarm",
            name="dlq-messages",
            description="A message is in the dead-letter queue",
            metric=_visible_messages(ingestion.dlq),
            threshold=1,
            comparison=AT_LEAST,
            periods=1,
        ),
        AlarmSpec(
            construct_id="OldestMessageAgeAlarm",
            name="oldest-message-age",
            description="The oldest queued event waits more than 5 minutes",
            metric=ingestion.queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=300,
            comparison=ABOVE,
            periods=2,
        ),
        # Half the ProcessingLag rule's 30 minutes (docs/runbook.md): the stream Lambda
        # is falling behind well before the timelines are stale enough for that rule.
        AlarmSpec(
            construct_id="StreamIteratorAgeAlarm",
            name="stream-iterator-age",
            description=(
                "The stream Lambda's oldest unprocessed record is more than 15 minutes old"
            ),
            metric=stream.function.metric(
                "IteratorAge", period=PERIOD, statistic="Maximum", unit=cloudwatch.Unit.MILLISECONDS
            ),
            threshold=Duration.minutes(15).to_milliseconds(),
            comparison=ABOVE,
            periods=5,
        ),
        AlarmSpec(
            construct_id="StreamDLQMessagesAlarm",
            name="stream-dlq-messages",
            description=f"A failed stream batch is in {stream.dlq.queue_name}",
            metric=_visible_messages(stream.dlq),
            threshold=1,
            comparison=AT_LEAST,
            periods=1,
        ),
        AlarmSpec(
            construct_id="LoaderDLQMessagesAlarm",
            name="loader-dlq-messages",
            description=f"A failed S3 event is in {loader.dlq.queue_name}",
            metric=_visible_messages(loader.dlq),
            threshold=1,
            comparison=AT_LEAST,
            periods=1,
        ),
    )


def add_alarms(
    scope: Construct,
    env_suffix: str,
    specs: tuple[AlarmSpec, ...],
    action: cw_actions.SnsAction,
) -> list[cloudwatch.Alarm]:
    """One alarm per row of ``specs``, each raising ``action``."""
    alarms = []
    for spec in specs:
        alarm = cloudwatch.Alarm(
            scope,
            spec.construct_id,
            alarm_name=f"shipline-{spec.name}-{env_suffix}",
            alarm_description=spec.description,
            metric=spec.metric,
            threshold=spec.threshold,
            evaluation_periods=spec.periods,
            comparison_operator=spec.comparison,
            treat_missing_data=spec.missing_data,
        )
        alarm.add_alarm_action(action)
        alarms.append(alarm)
    return alarms


def _visible_messages(queue: sqs.IQueue) -> cloudwatch.IMetric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
