"""Watching shipline: its alert rules every 5 minutes, CloudWatch alarms and a dashboard.

The alerts Lambda evaluates shipline's own rules (the monitor's, over the warehouse)
and publishes to the notifications topic; the alarms (``infra.alarms``) watch the AWS
side: queues, DLQs, the processor's error rate and the stream's iterator age.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.alarms import ProcessorMetrics, add_alarms, alarm_table
from infra.ingestion import Ingestion
from infra.lambdas import shipline_function
from infra.loader import Loader
from infra.network import WarehouseNetwork
from infra.nightly import NightlyRun
from infra.stream import StreamToWarehouse
from infra.warehouse import Warehouse

ALERTS_RATE = Duration.minutes(5)


class Monitoring:
    """The alerts Lambda and its schedule, the alarms, and the dashboard (``dashboard_url``)."""

    def __init__(
        self,
        scope: Construct,
        env_suffix: str,
        code: lambda_.Code,
        *,
        network: WarehouseNetwork,
        warehouse: Warehouse,
        topic: sns.ITopic,
        ingestion: Ingestion,
        stream: StreamToWarehouse,
        loader: Loader,
        nightly: NightlyRun,
    ) -> None:
        self.alerts_fn = shipline_function(
            scope,
            "AlertsFunction",
            f"shipline-alerts-{env_suffix}",
            "alerts_handler",
            code,
            timeout=Duration.minutes(2),
            memory_mb=1024,
            environment=warehouse.client_environment,
            network=network,
        )
        topic.grant_publish(self.alerts_fn)
        warehouse.secret.grant_read(self.alerts_fn)
        self.alerts_schedule = events.Rule(
            scope,
            "AlertsSchedule",
            rule_name=f"shipline-alerts-{env_suffix}",
            description="Evaluate shipline's alert rules every 5 minutes",
            schedule=events.Schedule.rate(ALERTS_RATE),
            targets=[targets.LambdaFunction(self.alerts_fn, retry_attempts=0)],
        )
        processor = ProcessorMetrics.of(ingestion.processor)
        self.alarms = add_alarms(
            scope,
            env_suffix,
            alarm_table(ingestion, stream, loader, processor),
            cw_actions.SnsAction(topic),
        )
        dashboard_name = f"shipline-{env_suffix}"
        dashboard = cloudwatch.Dashboard(scope, "Dashboard", dashboard_name=dashboard_name)
        dashboard.add_widgets(*_ingestion_widgets(ingestion, processor))
        dashboard.add_widgets(*_downstream_widgets(ingestion, stream, loader, nightly, self.alarms))
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={dashboard_name}"
        )


def _ingestion_widgets(
    ingestion: Ingestion, processor: ProcessorMetrics
) -> list[cloudwatch.IWidget]:
    """The dashboard's first row: the queue, the processor and its error rate."""
    queue, dlq, function = ingestion.queue, ingestion.dlq, ingestion.processor
    return [
        cloudwatch.GraphWidget(
            title="Queue",
            left=[
                queue.metric_approximate_number_of_messages_visible(),
                queue.metric_number_of_messages_received(),
                dlq.metric_approximate_number_of_messages_visible(label="DLQ"),
            ],
            right=[queue.metric_approximate_age_of_oldest_message()],
        ),
        cloudwatch.GraphWidget(
            title="Processor",
            left=[processor.invocations, processor.errors, function.metric_throttles()],
            right=[function.metric_duration()],
        ),
        cloudwatch.GraphWidget(title="Processor error rate (%)", left=[processor.error_rate]),
    ]


def _downstream_widgets(
    ingestion: Ingestion,
    stream: StreamToWarehouse,
    loader: Loader,
    nightly: NightlyRun,
    alarms: list[cloudwatch.Alarm],
) -> list[cloudwatch.IWidget]:
    """The second row: the table, what feeds the warehouse, the nightly run, every alarm."""
    table, machine = ingestion.table, nightly.state_machine
    return [
        cloudwatch.GraphWidget(
            title="DynamoDB",
            left=[
                table.metric_consumed_write_capacity_units(),
                table.metric_consumed_read_capacity_units(),
            ],
            right=[table.metric("WriteThrottleEvents", statistic="Sum", label="write throttles")],
        ),
        cloudwatch.GraphWidget(
            title="Stream, loader and nightly run",
            left=[
                stream.function.metric_errors(label="stream errors"),
                loader.function.metric_errors(label="loader errors"),
                machine.metric_failed(label="nightly failed"),
                machine.metric_succeeded(label="nightly succeeded"),
                stream.dlq.metric_approximate_number_of_messages_visible(label="stream DLQ"),
                loader.dlq.metric_approximate_number_of_messages_visible(label="loader DLQ"),
            ],
            right=[stream.function.metric("IteratorAge", statistic="Maximum")],
        ),
        cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms),
    ]
