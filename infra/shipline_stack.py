"""shipline's AWS stack: seed 003's ingestion path plus the loader, nightly run and warehouse.

Every Lambda runs code from one asset (``make lambda-bundle`` builds it into
``build/lambda/``); each handler is a function of ``shipline.aws.handlers``.
Permissions are granted on the resources themselves: ``grant_*`` calls where they
give just what the handler uses, else the named actions of its calls (the
processor's table access, the loader's bucket access).

The warehouse (Redshift Serverless) is not publicly accessible: it and the Lambdas
that use it live in a VPC of private isolated subnets, without NAT. Those Lambdas
reach S3 through a gateway endpoint and Secrets Manager and SNS through interface
endpoints; they build the warehouse's URL from its secret and the workgroup's
endpoint address (``shipline.aws.warehouse``).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Aws,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from shipline.aws.config import TTL_DAYS  # the processor stamps expires_at = received_at + it
from shipline.errors import TransientBackendError

ENVIRONMENTS = ("dev", "prod")
HANDLERS = "shipline.aws.handlers"

# Seed 003's values.
PROCESSOR_TIMEOUT = Duration.seconds(60)
PROCESSOR_MEMORY_MB = 512
QUEUE_VISIBILITY = Duration.seconds(6 * 60)  # 6x the processor's timeout
QUEUE_RETENTION = Duration.days(4)
LONG_POLL = Duration.seconds(20)
DLQ_RETENTION = Duration.days(14)
MAX_RECEIVE_COUNT = 3
BATCH_SIZE = 10
BATCH_WINDOW = Duration.seconds(10)
RULE_RETRY_ATTEMPTS = 2
RULE_MAX_EVENT_AGE = Duration.hours(2)
TTL_ATTRIBUTE = "expires_at"
GSI_NAME = "status-timestamp-index"
QUEUE_DEPTH_THRESHOLD = 1000
ERROR_RATE_THRESHOLD_PERCENT = 5
DLQ_THRESHOLD = 1
OLDEST_MESSAGE_THRESHOLD_SECONDS = 300
ARCHIVE_RETENTION = Duration.days(7)

# The DynamoDB stream -> stream Lambda, one invocation at a time (each run moves the
# one timeline checkpoint). At 10M events/day (~116/s, more at peaks) throughput is
# batch size / run time, so batches are large: a stream record is ~1.3 KB, so 4,000
# is ~5.2 MB, under Lambda's 6 MB payload (Lambda also cuts a batch at 6 MB). The
# window lets a quiet shard gather a batch instead of invoking for a handful.
STREAM_BATCH_SIZE = 4000
STREAM_BATCH_WINDOW = Duration.seconds(60)
# Retried until the records expire from the stream (24 h): a failed batch is the
# warehouse's failure (bad records are dead-lettered inside ingest), and giving up
# early would leave its events out of the warehouse. The iterator-age alarm tells.
STREAM_RETRY_ATTEMPTS = -1
# Half the ProcessingLag rule's 30 minutes (docs/runbook.md): the stream Lambda is
# falling behind well before the timelines are stale enough for that rule.
ITERATOR_AGE_THRESHOLD = Duration.minutes(15)
ITERATOR_AGE_EVALUATION_PERIODS = 5

# The warehouse.
WAREHOUSE_DATABASE = "shipline"
WAREHOUSE_PORT = 5439
WAREHOUSE_AZS = 2  # enough for a workgroup without enhanced VPC routing (which needs 3)

# The nightly run's retry policy (Step Functions): Lambda's transient errors and
# shipline's own. A Python Lambda's error name is its exception's class name, and
# Step Functions matches names exactly (not subclasses), so each class is listed.
SHIPLINE_TRANSIENT_ERRORS = [TransientBackendError.__name__]
TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
    *SHIPLINE_TRANSIENT_ERRORS,
]
NIGHTLY_RETRY_INTERVAL = Duration.seconds(30)
NIGHTLY_RETRY_ATTEMPTS = 3
NIGHTLY_BACKOFF_RATE = 2.0


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
        **kwargs: object,
    ) -> None:
        if env_suffix not in ENVIRONMENTS:
            raise ValueError(f"env {env_suffix!r}: use one of {', '.join(ENVIRONMENTS)}")
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.env_suffix = env_suffix
        prod = env_suffix == "prod"
        removal = RemovalPolicy.RETAIN if prod else RemovalPolicy.DESTROY
        code = lambda_.Code.from_asset(str(code_path))

        # Notifications: uploads, loads, failures, alarms and the nightly run.
        self.topic = sns.Topic(
            self,
            "NotificationsTopic",
            topic_name=f"shipline-notifications-{env_suffix}",
            display_name=f"shipline ({env_suffix})",
        )
        if notify_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notify_email))

        # Ingestion (seed 003): EventBridge -> SQS (+DLQ) -> Lambda -> DynamoDB.
        self.dlq = sqs.Queue(
            self,
            "ShipmentEventsDLQ",
            queue_name=f"shipmentevents-dlq-{env_suffix}",
            retention_period=DLQ_RETENTION,
            visibility_timeout=Duration.seconds(300),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
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

        self.table = dynamodb.Table(
            self,
            "EventsTable",
            table_name=f"shipmentevents-{env_suffix}",
            partition_key=dynamodb.Attribute(
                name="shipment_id", type=dynamodb.AttributeType.STRING
            ),
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
        self.table.add_global_secondary_index(
            index_name=GSI_NAME,
            partition_key=dynamodb.Attribute(
                name="processing_status", type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name="event_timestamp", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        self.bus = events.EventBus(
            self, "ShipmentEventBus", event_bus_name=f"shipmentevents-{env_suffix}"
        )
        self.rule = events.Rule(
            self,
            "ShipmentEventRule",
            rule_name=f"shipment-event-rule-{env_suffix}",
            event_bus=self.bus,
            event_pattern=events.EventPattern(
                source=["shipment.service"],
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
            self,
            "ShipmentEventArchive",
            archive_name=f"shipmentevents-archive-{env_suffix}",
            source_event_bus=self.bus,
            event_pattern=events.EventPattern(source=["shipment.service"]),
            retention=ARCHIVE_RETENTION,
        )

        # The warehouse's network: isolated subnets, no NAT gateway, no internet route.
        self._network()

        # The warehouse: Redshift Serverless, its admin secret in Secrets Manager.
        self.warehouse_secret = secretsmanager.Secret(
            self,
            "WarehouseSecret",
            secret_name=f"shipline/warehouse-{env_suffix}",
            description="Redshift Serverless admin credentials for shipline",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": "shipline_admin"}',
                generate_string_key="password",
                exclude_characters="\"'@/\\ ",
                password_length=32,
            ),
            removal_policy=removal,
        )
        self.bucket = s3.Bucket(
            self,
            "LandingBucket",
            bucket_name=None,
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=removal,
            auto_delete_objects=False,
        )
        warehouse_role = iam.Role(
            self,
            "WarehouseRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ),
            description="Lets Redshift COPY from the landing bucket",
        )
        self.bucket.grant_read(warehouse_role)
        self.namespace = redshift.CfnNamespace(
            self,
            "WarehouseNamespace",
            namespace_name=f"shipline-{env_suffix}",
            db_name=WAREHOUSE_DATABASE,
            admin_username=self.warehouse_secret.secret_value_from_json("username").unsafe_unwrap(),
            admin_user_password=self.warehouse_secret.secret_value_from_json(
                "password"
            ).unsafe_unwrap(),
            iam_roles=[warehouse_role.role_arn],
            default_iam_role_arn=warehouse_role.role_arn,
        )
        self.workgroup = redshift.CfnWorkgroup(
            self,
            "WarehouseWorkgroup",
            workgroup_name=f"shipline-{env_suffix}",
            namespace_name=f"shipline-{env_suffix}",
            base_capacity=8,
            port=WAREHOUSE_PORT,
            publicly_accessible=False,
            # Without enhanced VPC routing two subnets in two AZs are enough; COPY from
            # the landing bucket then goes through Redshift's own network.
            enhanced_vpc_routing=False,
            subnet_ids=self.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
            security_group_ids=[self.warehouse_sg.security_group_id],
        )
        self.workgroup.node.add_dependency(self.namespace)

        # The Lambdas: one code asset, one handler each. The warehouse Lambdas get no
        # SHIPLINE_DATABASE: they build the URL from the secret and the endpoint.
        warehouse_env = {
            "SHIPLINE_AWS_WAREHOUSE_SECRET_ARN": self.warehouse_secret.secret_arn,
            "SHIPLINE_AWS_WAREHOUSE_HOST": self.workgroup.attr_workgroup_endpoint_address,
            "SHIPLINE_AWS_WAREHOUSE_PORT": str(WAREHOUSE_PORT),
            "SHIPLINE_AWS_WAREHOUSE_DATABASE": WAREHOUSE_DATABASE,
            "SHIPLINE_AWS_TOPIC_ARN": self.topic.topic_arn,
            "SHIPLINE_ENVIRONMENT": env_suffix,
        }

        self.processor = self._function(
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
        self.processor.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                max_batching_window=BATCH_WINDOW,
                report_batch_item_failures=True,
            )
        )
        # Only the handler's calls: the conditional PutItem, and GetItem when a failed
        # condition returns no item (grant_write_data would add Batch/Update/Delete).
        self.table.grant(self.processor, "dynamodb:PutItem", "dynamodb:GetItem")
        self.dlq.grant_send_messages(self.processor)

        self.stream_dlq = sqs.Queue(
            self,
            "StreamFailuresDLQ",
            queue_name=f"shipline-stream-dlq-{env_suffix}",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.stream_fn = self._function(
            "StreamProcessor",
            f"shipline-stream-{env_suffix}",
            "stream_handler",
            code,
            timeout=Duration.minutes(5),
            memory_mb=1024,
            environment=warehouse_env,
            in_vpc=True,
            # Timeline runs move one checkpoint: one at a time.
            reserved_concurrency=1,
        )
        self.stream_fn.add_event_source(
            sources.DynamoEventSource(
                self.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                max_batching_window=STREAM_BATCH_WINDOW,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                bisect_batch_on_error=True,
                on_failure=sources.SqsDlq(self.stream_dlq),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {"eventName": lambda_.FilterRule.is_equal("INSERT")}
                    )
                ],
            )
        )
        self.warehouse_secret.grant_read(self.stream_fn)

        # Files (seed 004): S3 -> loader Lambda -> warehouse, failures to a DLQ.
        self.loader_dlq = sqs.Queue(
            self,
            "LoaderFailuresDLQ",
            queue_name=f"shipline-loader-dlq-{env_suffix}",
            retention_period=DLQ_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        self.loader_fn = self._function(
            "LoaderFunction",
            f"shipline-loader-{env_suffix}",
            "loader_handler",
            code,
            timeout=Duration.minutes(15),
            memory_mb=2048,
            # Redshift COPYs landing files from S3 with the namespace's default role.
            environment={**warehouse_env, "SHIPLINE_LOADER_REDSHIFT_IAM_ROLE": "default"},
            in_vpc=True,
            reserved_concurrency=None,
            on_failure=destinations.SqsDestination(self.loader_dlq),
            retry_attempts=2,
        )
        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(self.loader_fn)
        )
        # The loader's S3 calls: ListObjectsV2 and GetObject for the new key; quarantine is
        # CopyObject (which copies the object's tags), PutObject of the reason file and
        # DeleteObject (a delete marker: versioning keeps the file, so no DeleteObjectVersion).
        self.loader_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        self.loader_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectTagging",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:DeleteObject",
                ],
                resources=[self.bucket.arn_for_objects("*")],
            )
        )
        self.topic.grant_publish(self.loader_fn)
        self.warehouse_secret.grant_read(self.loader_fn)

        # The nightly run (seed 000): base -> verify -> notify, as a state machine.
        self.base_fn = self._function(
            "BaseFunction",
            f"shipline-base-{env_suffix}",
            "base_handler",
            code,
            timeout=Duration.minutes(15),
            memory_mb=3008,
            environment=warehouse_env,
            in_vpc=True,
        )
        self.verify_fn = self._function(
            "VerifyFunction",
            f"shipline-verify-{env_suffix}",
            "verify_handler",
            code,
            timeout=Duration.minutes(15),
            memory_mb=3008,
            environment=warehouse_env,
            in_vpc=True,
        )
        for fn in (self.base_fn, self.verify_fn):
            self.warehouse_secret.grant_read(fn)
        self.state_machine = self._nightly(env_suffix)
        self.nightly_schedule = events.Rule(
            self,
            "NightlySchedule",
            rule_name=f"shipline-nightly-{env_suffix}",
            description="The daily base run at 00:00 UTC",
            schedule=events.Schedule.cron(minute="0", hour="0"),
            targets=[targets.SfnStateMachine(self.state_machine, retry_attempts=2)],
        )

        # Alerts (the monitor's rules) every 5 minutes, published to SNS.
        self.alerts_fn = self._function(
            "AlertsFunction",
            f"shipline-alerts-{env_suffix}",
            "alerts_handler",
            code,
            timeout=Duration.minutes(2),
            memory_mb=1024,
            environment=warehouse_env,
            in_vpc=True,
        )
        self.topic.grant_publish(self.alerts_fn)
        self.warehouse_secret.grant_read(self.alerts_fn)
        self.alerts_schedule = events.Rule(
            self,
            "AlertsSchedule",
            rule_name=f"shipline-alerts-{env_suffix}",
            description="Evaluate shipline's alert rules every 5 minutes",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[targets.LambdaFunction(self.alerts_fn, retry_attempts=0)],
        )

        self._alarms_and_dashboard(env_suffix)

        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=self.bus.event_bus_arn)
        CfnOutput(self, "SQSQueueURL", value=self.queue.queue_url)
        CfnOutput(self, "DLQURL", value=self.dlq.queue_url)
        CfnOutput(self, "ProcessorLambdaARN", value=self.processor.function_arn)
        CfnOutput(self, "EventsTableName", value=self.table.table_name)
        CfnOutput(self, "DashboardURL", value=self.dashboard_url)
        CfnOutput(self, "LandingBucketName", value=self.bucket.bucket_name)
        CfnOutput(self, "NotificationsTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "NightlyStateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "WarehouseSecretArn", value=self.warehouse_secret.secret_arn)
        CfnOutput(self, "WarehouseWorkgroupName", value=f"shipline-{env_suffix}")
        CfnOutput(self, "WarehouseEndpoint", value=self.workgroup.attr_workgroup_endpoint_address)

    def _network(self) -> None:
        """The VPC of the warehouse and its Lambdas, with the endpoints those Lambdas call.

        The subnets are isolated (no NAT gateway, no internet gateway), so the Lambdas
        reach AWS services only through endpoints: S3 (the loader) through a free
        gateway endpoint; Secrets Manager (the warehouse secret, once per container)
        and SNS (the loader's and alerts' messages) through interface endpoints that
        admit only the Lambdas' security group. Logs, and the trace segments Lambda itself
        records (the code has no X-Ray SDK), leave through Lambda's own channel, not
        the VPC. The workgroup admits port 5439 from the Lambdas' security group alone.
        """
        self.vpc = ec2.Vpc(
            self,
            "WarehouseVpc",
            max_azs=WAREHOUSE_AZS,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="warehouse", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
        )
        isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.warehouse_clients_sg = ec2.SecurityGroup(
            self,
            "WarehouseClientsSecurityGroup",
            vpc=self.vpc,
            description="The Lambdas that use the warehouse",
            # Isolated subnets: outbound traffic can only reach the VPC and its endpoints.
            allow_all_outbound=True,
        )
        self.warehouse_sg = ec2.SecurityGroup(
            self,
            "WarehouseSecurityGroup",
            vpc=self.vpc,
            description="Redshift Serverless: port 5439 from the warehouse Lambdas only",
            allow_all_outbound=False,
        )
        self.warehouse_sg.add_ingress_rule(
            self.warehouse_clients_sg,
            ec2.Port.tcp(WAREHOUSE_PORT),
            "the warehouse Lambdas",
        )
        self.vpc.add_gateway_endpoint(
            "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[isolated]
        )
        for construct_id, service in (
            ("SecretsManagerEndpoint", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("SnsEndpoint", ec2.InterfaceVpcEndpointAwsService.SNS),
        ):
            endpoint = self.vpc.add_interface_endpoint(
                construct_id,
                service=service,
                subnets=isolated,
                private_dns_enabled=True,
                open=False,
            )
            endpoint.connections.allow_default_port_from(
                self.warehouse_clients_sg, "the warehouse Lambdas"
            )

    def _function(
        self,
        construct_id: str,
        name: str,
        handler: str,
        code: lambda_.Code,
        *,
        timeout: Duration,
        memory_mb: int,
        environment: dict[str, str],
        reserved_concurrency: int | None = None,
        on_failure: destinations.SqsDestination | None = None,
        retry_attempts: int | None = None,
        in_vpc: bool = False,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self,
            construct_id,
            function_name=name,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler=f"{HANDLERS}.{handler}",
            code=code,
            timeout=timeout,
            memory_size=memory_mb,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            reserved_concurrent_executions=reserved_concurrency,
            on_failure=on_failure,
            retry_attempts=retry_attempts,
            # The warehouse Lambdas run in the warehouse's VPC; the ingest processor, which
            # talks only to SQS and DynamoDB, stays outside it.
            vpc=self.vpc if in_vpc else None,
            vpc_subnets=(
                ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if in_vpc else None
            ),
            security_groups=[self.warehouse_clients_sg] if in_vpc else None,
        )

    def _nightly(self, env_suffix: str) -> sfn.StateMachine:
        publish_failure = tasks.SnsPublish(
            self,
            "PublishFailure",
            topic=self.topic,
            subject=f"shipline ({env_suffix}): nightly run failed",
            message=sfn.TaskInput.from_json_path_at("$"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(
            sfn.Fail(self, "NightlyFailed", error="NightlyRunFailed", cause="see the SNS message")
        )

        def retried(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
            task.add_retry(
                errors=TRANSIENT_ERRORS,
                interval=NIGHTLY_RETRY_INTERVAL,
                max_attempts=NIGHTLY_RETRY_ATTEMPTS,
                backoff_rate=NIGHTLY_BACKOFF_RATE,
            )
            task.add_catch(publish_failure, errors=["States.ALL"], result_path="$.error")
            return task

        base = retried(
            tasks.LambdaInvoke(
                self,
                "Base",
                lambda_function=self.base_fn,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.base",
            )
        )
        verify = retried(
            tasks.LambdaInvoke(
                self,
                "Verify",
                lambda_function=self.verify_fn,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_path="$.verify",
            )
        )
        notify = tasks.SnsPublish(
            self,
            "Notify",
            topic=self.topic,
            subject=f"shipline ({env_suffix}): nightly run done",
            message=sfn.TaskInput.from_json_path_at("$"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Succeed(self, "NightlyDone"))
        drift = (
            sfn.Choice(self, "Drift?")
            .when(sfn.Condition.number_greater_than("$.verify.drift", 0), publish_failure)
            .otherwise(notify)
        )
        definition = base.next(verify).next(drift)
        return sfn.StateMachine(
            self,
            "NightlyStateMachine",
            state_machine_name=f"shipline-nightly-{env_suffix}",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.hours(2),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self,
                    "NightlyLogs",
                    log_group_name=f"/aws/vendedlogs/states/shipline-nightly-{env_suffix}",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ERROR,
            ),
        )

    def _alarms_and_dashboard(self, env_suffix: str) -> None:
        action = cw_actions.SnsAction(self.topic)
        period = Duration.minutes(1)
        errors = self.processor.metric_errors(period=period, statistic="Sum")
        invocations = self.processor.metric_invocations(period=period, statistic="Sum")
        error_rate = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={"errors": errors, "invocations": invocations},
            label="Processor error rate (%)",
            period=period,
        )
        alarms = [
            cloudwatch.Alarm(
                self,
                "HighQueueDepthAlarm",
                alarm_name=f"shipline-queue-depth-{env_suffix}",
                alarm_description="More than 1000 events wait in the queue",
                metric=self.queue.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                threshold=QUEUE_DEPTH_THRESHOLD,
                evaluation_periods=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "HighLambdaErrorRateAlarm",
                alarm_name=f"shipline-processor-error-rate-{env_suffix}",
                alarm_description="More than 5% of processor invocations fail",
                metric=error_rate,
                threshold=ERROR_RATE_THRESHOLD_PERCENT,
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "MessagesInDLQAlarm",
                alarm_name=f"shipline-dlq-messages-{env_suffix}",
                alarm_description="A message is in the dead-letter queue",
                metric=self.dlq.metric_approximate_number_of_messages_visible(
                    period=period, statistic="Maximum"
                ),
                threshold=DLQ_THRESHOLD,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "OldestMessageAgeAlarm",
                alarm_name=f"shipline-oldest-message-age-{env_suffix}",
                alarm_description="The oldest queued event waits more than 5 minutes",
                metric=self.queue.metric_approximate_age_of_oldest_message(
                    period=period, statistic="Maximum"
                ),
                threshold=OLDEST_MESSAGE_THRESHOLD_SECONDS,
                evaluation_periods=2,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "StreamIteratorAgeAlarm",
                alarm_name=f"shipline-stream-iterator-age-{env_suffix}",
                alarm_description=(
                    "The stream Lambda's oldest unprocessed record is more than 15 minutes old"
                ),
                metric=self.stream_fn.metric(
                    "IteratorAge",
                    period=period,
                    statistic="Maximum",
                    unit=cloudwatch.Unit.MILLISECONDS,
                ),
                threshold=ITERATOR_AGE_THRESHOLD.to_milliseconds(),
                evaluation_periods=ITERATOR_AGE_EVALUATION_PERIODS,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for construct_id, name, queue, what in (
            ("StreamDLQMessagesAlarm", "stream-dlq", self.stream_dlq, "stream batch"),
            ("LoaderDLQMessagesAlarm", "loader-dlq", self.loader_dlq, "S3 event"),
        ):
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    construct_id,
                    alarm_name=f"shipline-{name}-messages-{env_suffix}",
                    alarm_description=f"A failed {what} is in {queue.queue_name}",
                    metric=queue.metric_approximate_number_of_messages_visible(
                        period=period, statistic="Maximum"
                    ),
                    threshold=DLQ_THRESHOLD,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm in alarms:
            alarm.add_alarm_action(action)

        dashboard_name = f"shipline-{env_suffix}"
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue",
                left=[
                    self.queue.metric_approximate_number_of_messages_visible(),
                    self.queue.metric_number_of_messages_received(),
                    self.dlq.metric_approximate_number_of_messages_visible(label="DLQ"),
                ],
                right=[self.queue.metric_approximate_age_of_oldest_message()],
            ),
            cloudwatch.GraphWidget(
                title="Processor",
                left=[invocations, errors, self.processor.metric_throttles()],
                right=[self.processor.metric_duration()],
            ),
            cloudwatch.GraphWidget(title="Processor error rate (%)", left=[error_rate]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="DynamoDB",
                left=[
                    self.table.metric_consumed_write_capacity_units(),
                    self.table.metric_consumed_read_capacity_units(),
                ],
                right=[
                    self.table.metric(
                        "WriteThrottleEvents", statistic="Sum", label="write throttles"
                    )
                ],
            ),
            cloudwatch.GraphWidget(
                title="Stream, loader and nightly run",
                left=[
                    self.stream_fn.metric_errors(label="stream errors"),
                    self.loader_fn.metric_errors(label="loader errors"),
                    self.state_machine.metric_failed(label="nightly failed"),
                    self.state_machine.metric_succeeded(label="nightly succeeded"),
                    self.stream_dlq.metric_approximate_number_of_messages_visible(
                        label="stream DLQ"
                    ),
                    self.loader_dlq.metric_approximate_number_of_messages_visible(
                        label="loader DLQ"
                    ),
                ],
                right=[self.stream_fn.metric("IteratorAge", statistic="Maximum")],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms),
        )
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={dashboard_name}"
        )
