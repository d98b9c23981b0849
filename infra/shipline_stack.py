"""shipline's AWS stack: seed 003's ingestion path plus the loader, nightly run and warehouse.

The stack composes its parts, one module each: ``ingestion``, ``network``,
``warehouse``, ``stream``, ``loader``, ``nightly`` and ``monitoring`` (with
``alarms``). Each part adds its resources to the stack itself, under the construct
ids they have always had, rather than being a ``Construct`` of its own: a construct
level would add its id to every logical ID below it, and CloudFormation would then
replace each resource, which for the named ones (the table, the queues, the
functions) fails or loses data.

Permissions are granted on the resources themselves: ``grant_*`` calls where they
give just what the handler uses, else the named actions of its calls (the
processor's table access, the loader's bucket access).

The warehouse (Redshift Serverless) is not publicly accessible: it and the Lambdas
that use it live in a VPC of private isolated subnets, without NAT (``infra.network``).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.ingestion import Ingestion
from infra.loader import Loader
from infra.monitoring import Monitoring
from infra.network import WarehouseNetwork
from infra.nightly import NightlyRun
from infra.stream import StreamToWarehouse
from infra.warehouse import Warehouse

ENVIRONMENTS = ("dev", "prod")


class ShiplineStack(Stack):
    """Everything shipline needs on AWS, for one environment (dev or prod)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_suffix: str,
        code_path: Path,
        notify_email: str | None = None,
        description: str | None = None,
    ) -> None:
        if env_suffix not in ENVIRONMENTS:
            raise ValueError(f"env {env_suffix!r}: use one of {', '.join(ENVIRONMENTS)}")
        super().__init__(scope, construct_id, description=description)
        self.env_suffix = env_suffix
        # The data stays when a prod stack is deleted; the events table stays in every env.
        removal = RemovalPolicy.RETAIN if env_suffix == "prod" else RemovalPolicy.DESTROY
        code = lambda_.Code.from_asset(str(code_path))

        self.topic = _notifications_topic(self, env_suffix, notify_email)
        self.ingestion = Ingestion(self, env_suffix, code)
        self.network = WarehouseNetwork(self)
        self.warehouse = Warehouse(
            self, env_suffix, network=self.network, topic=self.topic, removal=removal
        )
        network, warehouse, topic = self.network, self.warehouse, self.topic
        self.stream = StreamToWarehouse(
            self,
            env_suffix,
            code,
            table=self.ingestion.table,
            network=network,
            warehouse=warehouse,
        )
        self.loader = Loader(
            self, env_suffix, code, network=network, warehouse=warehouse, topic=topic
        )
        self.nightly = NightlyRun(
            self, env_suffix, code, network=network, warehouse=warehouse, topic=topic
        )
        self.monitoring = Monitoring(
            self,
            env_suffix,
            code,
            network=network,
            warehouse=warehouse,
            topic=topic,
            ingestion=self.ingestion,
            stream=self.stream,
            loader=self.loader,
            nightly=self.nightly,
        )
        self._add_outputs()

    def _add_outputs(self) -> None:
        ingestion, warehouse = self.ingestion, self.warehouse
        for output_id, value in (
            ("EventBusName", ingestion.bus.event_bus_name),
            ("EventBusArn", ingestion.bus.event_bus_arn),
            ("SQSQueueURL", ingestion.queue.queue_url),
            ("DLQURL", ingestion.dlq.queue_url),
            ("ProcessorLambdaARN", ingestion.processor.function_arn),
            ("EventsTableName", ingestion.table.table_name),
            ("DashboardURL", self.monitoring.dashboard_url),
            ("LandingBucketName", warehouse.bucket.bucket_name),
            ("NotificationsTopicArn", self.topic.topic_arn),
            ("NightlyStateMachineArn", self.nightly.state_machine.state_machine_arn),
            ("WarehouseSecretArn", warehouse.secret.secret_arn),
            ("WarehouseWorkgroupName", warehouse.workgroup_name),
            ("WarehouseEndpoint", warehouse.workgroup.attr_workgroup_endpoint_address),
        ):
            CfnOutput(self, output_id, value=value)


def _notifications_topic(scope: Construct, env_suffix: str, email: str | None) -> sns.Topic:
    """Where uploads, loads, failures, alarms and the nightly run are announced."""
    topic = sns.Topic(
        scope,
        "NotificationsTopic",
        topic_name=f"shipline-notifications-{env_suffix}",
        display_name=f"shipline ({env_suffix})",
    )
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic
