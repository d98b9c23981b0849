"""CDK assertions on the synthesized stack: seed 003's values, the loader, the nightly run."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.app import build_app, lambda_code_path
from infra.nightly import TRANSIENT_ERRORS
from infra.shipline_stack import ShiplineStack
from shipline.errors import ConfigError, ShiplineError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> ShiplineStack:
    code = tmp_path_factory.mktemp("lambda")
    (code / "index.py").write_text("# placeholder\n")
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return ShiplineStack(app, "Shipline-dev", env_suffix="dev", code_path=code)


@pytest.fixture(scope="module")
def template(stack: ShiplineStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    found: dict[str, Any] = template.to_json()["Resources"]
    return found


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def logical_id(resources: dict[str, Any], kind: str, **props: Any) -> str:
    for name, resource in of_type(resources, kind).items():
        if all(resource["Properties"].get(k) == v for k, v in props.items()):
            return name
    raise AssertionError(f"no {kind} with {props}")


# EventBridge -----------------------------------------------------------------------


def test_rule_pattern_and_target_retry(template: Template, resources: dict[str, Any]) -> None:
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "shipmentevents-dev"})
    queue = logical_id(resources, "AWS::SQS::Queue", QueueName="shipmentevents-queue-dev")
    dlq = logical_id(resources, "AWS::SQS::Queue", QueueName="shipmentevents-dlq-dev")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": "shipment-event-rule-dev",
            "EventPattern": {
                "source": ["shipment.service"],
                "detail-type": [{"prefix": "shipment."}],
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [queue, "Arn"]},
                        "RetryPolicy": {
                            "MaximumRetryAttempts": 2,
                            "MaximumEventAgeInSeconds": 7200,
                        },
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}},
                    }
                )
            ],
        },
    )


def test_archive_keeps_seven_days(template: Template, resources: dict[str, Any]) -> None:
    bus = logical_id(resources, "AWS::Events::EventBus", Name="shipmentevents-dev")
    template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "ArchiveName": "shipmentevents-archive-dev",
            "SourceArn": {"Fn::GetAtt": [bus, "Arn"]},
            "EventPattern": {"source": ["shipment.service"]},
            "RetentionDays": 7,
        },
    )


# SQS -------------------------------------------------------------------------------


def test_queue_long_polling_visibility_and_dlq(
    template: Template, resources: dict[str, Any]
) -> None:
    dlq = logical_id(resources, "AWS::SQS::Queue", QueueName="shipmentevents-dlq-dev")
    processor = of_type(resources, "AWS::Lambda::Function")[
        logical_id(resources, "AWS::Lambda::Function", FunctionName="shipment-event-processor-dev")
    ]
    timeout = processor["Properties"]["Timeout"]
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "shipmentevents-queue-dev",
            "ReceiveMessageWaitTimeSeconds": 20,
            "VisibilityTimeout": 6 * timeout,
            "MessageRetentionPeriod": 4 * 86_400,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": 3,
            },
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": "shipmentevents-dlq-dev", "MessageRetentionPeriod": 14 * 86_400},
    )


# Lambda ----------------------------------------------------------------------------


def test_processor_function(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "shipment-event-processor-dev",
            "Handler": "shipline.aws.handlers.ingest_handler",
            "Runtime": "python3.12",
            "MemorySize": 512,
            "Timeout": 60,
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "SHIPLINE_AWS_EVENTS_TABLE": Match.any_value(),
                        "SHIPLINE_AWS_REJECTS_QUEUE_URL": Match.any_value(),
                        "SHIPLINE_AWS_TTL_DAYS": "90",
                    }
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"LogGroupName": "/aws/lambda/shipment-event-processor-dev", "RetentionInDays": 30},
    )


SHIPLINE_FUNCTIONS = (
    "shipment-event-processor-dev",
    "shipline-stream-dev",
    "shipline-loader-dev",
    "shipline-base-dev",
    "shipline-verify-dev",
    "shipline-alerts-dev",
)


def test_every_lambda_traces_and_keeps_logs_one_month(resources: dict[str, Any]) -> None:
    names = {
        fn["Properties"].get("FunctionName")
        for fn in of_type(resources, "AWS::Lambda::Function").values()
        if fn["Properties"]["Handler"].startswith("shipline.")
    }
    assert names == set(SHIPLINE_FUNCTIONS)
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    for name in SHIPLINE_FUNCTIONS:
        props = function(resources, name)
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        group = log_groups[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert group == {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": 30}, name


def test_code_is_an_asset_not_inline(resources: dict[str, Any]) -> None:
    for function in of_type(resources, "AWS::Lambda::Function").values():
        code = function["Properties"]["Code"]
        if "ZipFile" in code:  # CDK's own bucket-notification helper is inline
            assert function["Properties"]["Handler"] == "index.handler"
            continue
        assert "S3Key" in code


def test_event_source_mapping(template: Template, resources: dict[str, Any]) -> None:
    processor = logical_id(
        resources, "AWS::Lambda::Function", FunctionName="shipment-event-processor-dev"
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": processor},
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_stream_mapping_takes_inserts(template: Template, resources: dict[str, Any]) -> None:
    stream_fn = logical_id(resources, "AWS::Lambda::Function", FunctionName="shipline-stream-dev")
    table = logical_id(resources, "AWS::DynamoDB::Table", TableName="shipmentevents-dev")
    stream_dlq = logical_id(resources, "AWS::SQS::Queue", QueueName="shipline-stream-dlq-dev")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": stream_fn},
            "EventSourceArn": {"Fn::GetAtt": [table, "StreamArn"]},
            "StartingPosition": "TRIM_HORIZON",
            # Sized for 10M events/day with one invocation at a time (docs/aws.md).
            "BatchSize": 4000,
            "MaximumBatchingWindowInSeconds": 60,
            "MaximumRetryAttempts": -1,  # until the records expire: none given up early
            "FilterCriteria": {
                "Filters": [
                    {"Pattern": json.dumps({"eventName": ["INSERT"]}, separators=(",", ":"))}
                ]
            },
            "BisectBatchOnFunctionError": True,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [stream_dlq, "Arn"]}}
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "shipline-stream-dev",
            "Handler": "shipline.aws.handlers.stream_handler",
            "ReservedConcurrentExecutions": 1,
        },
    )


# DynamoDB --------------------------------------------------------------------------


def test_table(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "shipmentevents-dev",
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": "shipment_id", "KeyType": "HASH"},
                {"AttributeName": "event_key", "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "status-timestamp-index",
                    "KeySchema": [
                        {"AttributeName": "processing_status", "KeyType": "HASH"},
                        {"AttributeName": "event_timestamp", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )


# Alarms, dashboard, outputs --------------------------------------------------------------


def topic_ref(resources: dict[str, Any]) -> dict[str, str]:
    return {"Ref": logical_id(resources, "AWS::SNS::Topic", TopicName="shipline-notifications-dev")}


def test_alarms(template: Template, resources: dict[str, Any]) -> None:
    template.resource_count_is("AWS::CloudWatch::Alarm", 7)
    topic = topic_ref(resources)

    def queue(name: str) -> dict[str, Any]:
        return {
            "Fn::GetAtt": [logical_id(resources, "AWS::SQS::Queue", QueueName=name), "QueueName"]
        }

    for name, metric, dimension, threshold, operator, periods in [
        (
            "shipline-queue-depth-dev",
            "ApproximateNumberOfMessagesVisible",
            queue("shipmentevents-queue-dev"),
            1000,
            "GreaterThan",
            2,
        ),
        (
            "shipline-dlq-messages-dev",
            "ApproximateNumberOfMessagesVisible",
            queue("shipmentevents-dlq-dev"),
            1,
            "GreaterThanOrEqualTo",
            1,
        ),
        (
            "shipline-oldest-message-age-dev",
            "ApproximateAgeOfOldestMessage",
            queue("shipmentevents-queue-dev"),
            300,
            "GreaterThan",
            2,
        ),
        (
            "shipline-stream-dlq-messages-dev",
            "ApproximateNumberOfMessagesVisible",
            queue("shipline-stream-dlq-dev"),
            1,
            "GreaterThanOrEqualTo",
            1,
        ),
        (
            "shipline-loader-dlq-messages-dev",
            "ApproximateNumberOfMessagesVisible",
            queue("shipline-loader-dlq-dev"),
            1,
            "GreaterThanOrEqualTo",
            1,
        ),
    ]:
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "AlarmName": name,
                "Namespace": "AWS/SQS",
                "MetricName": metric,
                "Dimensions": [{"Name": "QueueName", "Value": dimension}],
                "Statistic": "Maximum",
                "Period": 60,
                "Threshold": threshold,
                "ComparisonOperator": f"{operator}Threshold",
                "EvaluationPeriods": periods,
                "AlarmActions": [topic],
            },
        )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "shipline-processor-error-rate-dev",
            "Threshold": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3,
            "AlarmActions": [topic],
            "Metrics": Match.array_with(
                [
                    Match.object_like(
                        {"Expression": "IF(invocations > 0, 100 * errors / invocations, 0)"}
                    ),
                    Match.object_like(
                        {"Id": "errors", "MetricStat": Match.object_like({"Stat": "Sum"})}
                    ),
                    Match.object_like({"Id": "invocations"}),
                ]
            ),
        },
    )


def test_stream_iterator_age_alarm(template: Template, resources: dict[str, Any]) -> None:
    stream_fn = logical_id(resources, "AWS::Lambda::Function", FunctionName="shipline-stream-dev")
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "shipline-stream-iterator-age-dev",
            "Namespace": "AWS/Lambda",
            "MetricName": "IteratorAge",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": stream_fn}}],
            "Statistic": "Maximum",
            "Unit": "Milliseconds",
            "Period": 60,
            "Threshold": 15 * 60 * 1000,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 5,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [topic_ref(resources)],
        },
    )


def dashboard_body(resources: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    parsed: dict[str, Any] = json.loads(
        "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    )
    return parsed


def test_dashboard_widgets(resources: dict[str, Any]) -> None:
    widgets = dashboard_body(resources)["widgets"]
    by_title = {w["properties"]["title"]: w["properties"] for w in widgets}
    assert list(by_title) == [
        "Queue",
        "Processor",
        "Processor error rate (%)",
        "DynamoDB",
        "Stream, loader and nightly run",
        "Alarms",
    ]
    assert len(by_title["Alarms"]["alarms"]) == 7

    def metric_names(title: str) -> list[str]:
        return [m[1] for m in by_title[title]["metrics"] if len(m) > 1]

    assert "ApproximateAgeOfOldestMessage" in metric_names("Queue")
    assert {"Invocations", "Errors", "Throttles", "Duration"} <= set(metric_names("Processor"))
    assert {"ConsumedWriteCapacityUnits", "WriteThrottleEvents"} <= set(metric_names("DynamoDB"))
    stream = metric_names("Stream, loader and nightly run")
    assert {"Errors", "ExecutionsFailed", "IteratorAge"} <= set(stream)
    assert stream.count("ApproximateNumberOfMessagesVisible") == 2  # stream and loader DLQs


def test_dashboard_and_outputs(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "shipline-dev"}
    )
    outputs = template.to_json()["Outputs"]
    for name in (
        "EventBusName",
        "SQSQueueURL",
        "ProcessorLambdaARN",
        "EventsTableName",
        "DashboardURL",
        "LandingBucketName",
        "NotificationsTopicArn",
    ):
        assert name in outputs, name
    assert "#dashboards:name=shipline-dev" in json.dumps(outputs["DashboardURL"])


# Loader path, SNS, schedule ---------------------------------------------------------------


def test_bucket_notifies_loader_with_dlq(template: Template, resources: dict[str, Any]) -> None:
    loader = logical_id(resources, "AWS::Lambda::Function", FunctionName="shipline-loader-dev")
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "LambdaFunctionArn": {"Fn::GetAtt": [loader, "Arn"]},
                    }
                ]
            }
        },
    )
    loader_dlq = logical_id(resources, "AWS::SQS::Queue", QueueName="shipline-loader-dlq-dev")
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": loader},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [loader_dlq, "Arn"]}}
            },
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
        },
    )


def test_loader_has_redshift_copy_from_s3_with_the_namespace_role(
    template: Template, resources: dict[str, Any]
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "shipline-loader-dev",
            "Environment": {
                "Variables": Match.object_like({"SHIPLINE_LOADER_REDSHIFT_IAM_ROLE": "default"})
            },
        },
    )
    role = logical_id(
        resources, "AWS::IAM::Role", Description="Lets Redshift COPY from the landing bucket"
    )
    template.has_resource_properties(
        "AWS::RedshiftServerless::Namespace",
        {"DefaultIamRoleArn": {"Fn::GetAtt": [role, "Arn"]}},
    )


def test_topic_and_nightly_schedule(template: Template, resources: dict[str, Any]) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"TopicName": "shipline-notifications-dev"})
    machine = logical_id(
        resources, "AWS::StepFunctions::StateMachine", StateMachineName="shipline-nightly-dev"
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 0 * * ? *)",
            "Targets": [Match.object_like({"Arn": {"Ref": machine}})],
        },
    )


def test_alerts_every_five_minutes(template: Template, resources: dict[str, Any]) -> None:
    alerts = logical_id(resources, "AWS::Lambda::Function", FunctionName="shipline-alerts-dev")
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": "shipline-alerts-dev", "Handler": "shipline.aws.handlers.alerts_handler"},
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [alerts, "Arn"]}})],
        },
    )


def test_handlers_exist(resources: dict[str, Any]) -> None:
    from shipline.aws import handlers

    for function in of_type(resources, "AWS::Lambda::Function").values():
        handler = function["Properties"]["Handler"]
        if handler.startswith("shipline."):
            module, _, name = handler.rpartition(".")
            assert module == "shipline.aws.handlers"
            assert callable(getattr(handlers, name)), handler


# The nightly state machine -----------------------------------------------------------------


def definition(resources: dict[str, Any]) -> dict[str, Any]:
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))
    body = machine["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_state_machine_states(resources: dict[str, Any]) -> None:
    machine = definition(resources)
    states = machine["States"]
    assert machine["StartAt"] == "Base"
    assert states["Base"]["Next"] == "Verify"
    assert states["Verify"]["Next"] == "Drift?"
    assert states["Drift?"]["Type"] == "Choice"
    assert states["Drift?"]["Choices"][0]["Next"] == "PublishFailure"
    assert states["Drift?"]["Default"] == "Notify"
    assert states["Notify"]["Resource"].endswith(":sns:publish")
    assert states["Notify"]["Next"] == "NightlyDone"
    assert states["NightlyDone"]["Type"] == "Succeed"


def test_state_machine_retry_and_failure_branch(resources: dict[str, Any]) -> None:
    states = definition(resources)["States"]
    for name in ("Base", "Verify"):
        (retry,) = states[name]["Retry"]
        assert retry == {
            "ErrorEquals": TRANSIENT_ERRORS,
            "IntervalSeconds": 30,
            "MaxAttempts": 3,
            "BackoffRate": 2,
        }
        (catch,) = states[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["Next"] == "PublishFailure"
    assert states["PublishFailure"]["Resource"].endswith(":sns:publish")
    assert states["PublishFailure"]["Next"] == "NightlyFailed"
    assert states["NightlyFailed"]["Type"] == "Fail"


def transient_error_names() -> set[str]:
    """The class names of shipline's transient errors (``transient = True``)."""
    found, pending = set(), [ShiplineError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.transient:
            found.add(cls.__name__)
    return found


def test_nightly_retries_shiplines_transient_errors(resources: dict[str, Any]) -> None:
    # A Python Lambda's error name is the exception's class name, matched exactly.
    assert "TransientBackendError" in transient_error_names()
    for name in ("Base", "Verify"):
        (retry,) = definition(resources)["States"][name]["Retry"]
        assert transient_error_names() <= set(retry["ErrorEquals"])
        assert "Lambda.ServiceException" in retry["ErrorEquals"]


def test_state_machine_traces_and_logs_errors(
    template: Template, resources: dict[str, Any]
) -> None:
    group = logical_id(
        resources,
        "AWS::Logs::LogGroup",
        LogGroupName="/aws/vendedlogs/states/shipline-nightly-dev",
        RetentionInDays=30,
    )
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "shipline-nightly-dev",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ERROR",
                "Destinations": [
                    {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [group, "Arn"]}}}
                ],
            },
        },
    )


# Warehouse --------------------------------------------------------------------------------


def test_redshift_serverless_with_secret(template: Template, resources: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": "shipline/warehouse-dev",
            "GenerateSecretString": Match.object_like({"GenerateStringKey": "password"}),
        },
    )
    namespace = next(iter(of_type(resources, "AWS::RedshiftServerless::Namespace").values()))
    props = namespace["Properties"]
    assert props["NamespaceName"] == "shipline-dev"
    assert "resolve:secretsmanager" in json.dumps(props["AdminUserPassword"])
    template.has_resource_properties(
        "AWS::RedshiftServerless::Workgroup",
        {"WorkgroupName": "shipline-dev", "NamespaceName": "shipline-dev"},
    )


# IAM --------------------------------------------------------------------------------------


def statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, policy in of_type(resources, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
READ_SECRET = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
SEND_TO_QUEUE = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
# CDK adds these to a state machine that logs; CloudWatch Logs' delivery APIs take `*`.
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
EXPECTED_ACTIONS = {
    "shipment-event-processor-dev": XRAY
    | {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    | {"dynamodb:PutItem", "dynamodb:GetItem"}
    | SEND_TO_QUEUE,
    "shipline-stream-dev": XRAY
    | {
        "dynamodb:ListStreams",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    }
    | SEND_TO_QUEUE
    | READ_SECRET,
    "shipline-loader-dev": XRAY
    | {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:DeleteObject",
    }
    | SEND_TO_QUEUE
    | {"sns:Publish"}
    | READ_SECRET,
    "shipline-base-dev": XRAY | READ_SECRET,
    "shipline-verify-dev": XRAY | READ_SECRET,
    "shipline-alerts-dev": XRAY | {"sns:Publish"} | READ_SECRET,
    "state machine": {"lambda:InvokeFunction", "sns:Publish"}
    | LOG_DELIVERY
    | XRAY
    | {"xray:GetSamplingRules", "xray:GetSamplingTargets"},
    "nightly schedule": {"states:StartExecution"},
    "warehouse": {"s3:GetObject*", "s3:GetBucket*", "s3:List*"},
    "bucket notifications": {"s3:PutBucketNotification"},
}
# What each role may do on `*`: APIs that take no resource ARN (or, for X-Ray and the
# stream listing, none narrower). All named actions.
STAR_RESOURCE_ACTIONS = (
    XRAY | {"xray:GetSamplingRules", "xray:GetSamplingTargets"} | LOG_DELIVERY
) | {"dynamodb:ListStreams"}
BASIC_EXECUTION = "service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS = "service-role/AWSLambdaVPCAccessExecutionRole"


def roles(resources: dict[str, Any]) -> dict[str, str]:
    """Logical id of each role, by what uses it."""
    found = {
        name: function(resources, name)["Role"]["Fn::GetAtt"][0] for name in SHIPLINE_FUNCTIONS
    }
    (machine,) = of_type(resources, "AWS::StepFunctions::StateMachine").values()
    found["state machine"] = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    schedule = of_type(resources, "AWS::Events::Rule")[
        logical_id(resources, "AWS::Events::Rule", Name="shipline-nightly-dev")
    ]
    found["nightly schedule"] = schedule["Properties"]["Targets"][0]["RoleArn"]["Fn::GetAtt"][0]
    found["warehouse"] = logical_id(
        resources, "AWS::IAM::Role", Description="Lets Redshift COPY from the landing bucket"
    )
    (helper,) = [
        fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in of_type(resources, "AWS::Lambda::Function").values()
        if fn["Properties"]["Handler"] == "index.handler"
    ]
    found["bucket notifications"] = helper
    return found


def role_statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def role_actions(resources: dict[str, Any], role: str) -> set[str]:
    return {a for s in role_statements(resources, role) for a in as_list(s["Action"])}


def test_every_role_is_accounted_for(resources: dict[str, Any]) -> None:
    assert set(roles(resources).values()) == set(of_type(resources, "AWS::IAM::Role"))
    assert set(roles(resources)) == set(EXPECTED_ACTIONS)


@pytest.mark.parametrize("user", sorted(EXPECTED_ACTIONS))
def test_exact_actions_of_each_role(resources: dict[str, Any], user: str) -> None:
    assert role_actions(resources, roles(resources)[user]) == EXPECTED_ACTIONS[user]


def test_no_wildcard_actions_on_all_resources(resources: dict[str, Any]) -> None:
    checked = 0
    for name, statement in statements(resources):
        actions = as_list(statement["Action"])
        assert statement["Effect"] == "Allow", name
        assert not [a for a in actions if a == "*" or a.endswith(":*")], name
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= STAR_RESOURCE_ACTIONS, (name, statement)
        checked += 1
    assert checked > 10
    # No customer managed policies or inline role policies hide elsewhere.
    assert of_type(resources, "AWS::IAM::ManagedPolicy") == {}
    for name, role in of_type(resources, "AWS::IAM::Role").items():
        assert "Policies" not in role["Properties"], name


def test_managed_policies_are_lambdas_execution_roles_only(resources: dict[str, Any]) -> None:
    # AWS's AWSLambdaBasicExecutionRole (logs) and AWSLambdaVPCAccessExecutionRole (logs,
    # network interfaces) name their actions; they apply to `*` (docs/aws.md, IAM).
    vpc_functions = {f"shipline-{name}-dev" for name in WAREHOUSE_FUNCTIONS}
    for user, role in roles(resources).items():
        arns = of_type(resources, "AWS::IAM::Role")[role]["Properties"].get("ManagedPolicyArns", [])
        managed = {arn["Fn::Join"][1][-1].split(":iam::aws:policy/")[-1] for arn in arns}
        if user in vpc_functions:
            assert managed == {BASIC_EXECUTION, VPC_ACCESS}, user
        elif user in SHIPLINE_FUNCTIONS or user == "bucket notifications":
            assert managed == {BASIC_EXECUTION}, user
        else:
            assert managed == set(), user


def test_processor_least_privilege(resources: dict[str, Any]) -> None:
    table = logical_id(resources, "AWS::DynamoDB::Table", TableName="shipmentevents-dev")
    queue = logical_id(resources, "AWS::SQS::Queue", QueueName="shipmentevents-queue-dev")
    dlq = logical_id(resources, "AWS::SQS::Queue", QueueName="shipmentevents-dlq-dev")
    where = {
        action: as_list(statement["Resource"])
        for statement in role_statements(
            resources, roles(resources)["shipment-event-processor-dev"]
        )
        for action in as_list(statement["Action"])
        if action not in XRAY
    }
    for action in ("dynamodb:PutItem", "dynamodb:GetItem"):
        assert {"Fn::GetAtt": [table, "Arn"]} in where[action]
    assert where["sqs:ReceiveMessage"] == [{"Fn::GetAtt": [queue, "Arn"]}]
    assert where["sqs:SendMessage"] == [{"Fn::GetAtt": [dlq, "Arn"]}]


def test_loader_may_touch_only_the_landing_bucket(resources: dict[str, Any]) -> None:
    bucket = next(iter(of_type(resources, "AWS::S3::Bucket")))
    bucket_arn = {"Fn::GetAtt": [bucket, "Arn"]}
    objects = {"Fn::Join": ["", [bucket_arn, "/*"]]}
    s3 = {
        action: as_list(statement["Resource"])
        for statement in role_statements(resources, roles(resources)["shipline-loader-dev"])
        for action in as_list(statement["Action"])
        if action.startswith("s3:")
    }
    assert s3.pop("s3:ListBucket") == [bucket_arn]
    assert s3 and all(resource == [objects] for resource in s3.values())


def test_sns_publish_grants(resources: dict[str, Any]) -> None:
    topic = topic_ref(resources)
    by_role = {role: user for user, role in roles(resources).items()}
    publishers = set()
    for statement in statements(resources):
        policy, body = statement
        if "sns:Publish" in as_list(body["Action"]):
            assert as_list(body["Resource"]) == [topic], policy
            (role,) = of_type(resources, "AWS::IAM::Policy")[policy]["Properties"]["Roles"]
            publishers.add(by_role[role["Ref"]])
    assert publishers == {"shipline-loader-dev", "shipline-alerts-dev", "state machine"}


# Environments -----------------------------------------------------------------------------


NAME_KEYS = (
    "AlarmName",
    "ArchiveName",
    "DashboardName",
    "DisplayName",
    "FunctionName",
    "LogGroupName",
    "Name",
    "NamespaceName",
    "QueueName",
    "StateMachineName",
    "TableName",
    "TopicName",
    "WorkgroupName",
)


def resource_names(template: Template) -> list[tuple[str, str]]:
    """(type, name) of every name the stack sets (references to others are not strings)."""
    return sorted(
        (resource["Type"], value)
        for resource in template.to_json()["Resources"].values()
        for key, value in resource.get("Properties", {}).items()
        if key in NAME_KEYS and isinstance(value, str)
    )


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[ShiplineStack, Template]:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("prod-out")),
        context={
            "env": "prod",
            "lambda_bundle": str(tmp_path_factory.mktemp("absent")),
            # as on the command line: -c allow_placeholder=true
            "allow_placeholder": "true",
        },
    )
    _, stack = build_app(app)
    return stack, Template.from_stack(stack)


def test_prod_from_context(prod: tuple[ShiplineStack, Template]) -> None:
    stack, template = prod
    assert stack.stack_name == "Shipline-prod"
    template.has_resource_properties("AWS::DynamoDB::Table", {"TableName": "shipmentevents-prod"})
    template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": "shipment-event-processor-prod"}
    )


def test_prod_names_every_named_resource(
    template: Template, prod: tuple[ShiplineStack, Template]
) -> None:
    dev = resource_names(template)
    assert Counter(kind.split("::")[1] for kind, _ in dev) == {
        "CloudWatch": 8,  # 7 alarms, the dashboard
        "Logs": 7,  # 6 Lambdas, the state machine
        "Lambda": 6,
        "SQS": 4,  # the queue and three DLQs
        "Events": 5,  # bus, archive, 3 rules
        "RedshiftServerless": 3,  # namespace; workgroup and its namespace
        "SNS": 2,  # topic name and display name
        "StepFunctions": 1,
        "DynamoDB": 1,
        "SecretsManager": 1,
    }
    assert all("-dev" in name or "(dev)" in name for _, name in dev), dev
    expected = sorted((kind, name.replace("dev", "prod")) for kind, name in dev)
    assert resource_names(prod[1]) == expected


def test_bucket_name_is_generated_and_tagged(prod: tuple[ShiplineStack, Template]) -> None:
    # Bucket names are global: CloudFormation generates one from the stack name.
    (bucket,) = of_type(prod[1].to_json()["Resources"], "AWS::S3::Bucket").values()
    assert "BucketName" not in bucket["Properties"]
    assert {"Key": "environment", "Value": "prod"} in bucket["Properties"]["Tags"]
    assert {"Key": "project", "Value": "shipline"} in bucket["Properties"]["Tags"]


def test_prod_retains_data(prod: tuple[ShiplineStack, Template]) -> None:
    resources = prod[1].to_json()["Resources"]
    for kind in ("AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::DynamoDB::Table"):
        for name, resource in of_type(resources, kind).items():
            assert resource["DeletionPolicy"] == "Retain", name


def test_unknown_env_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="use one of dev, prod"):
        ShiplineStack(cdk.App(), "Shipline-qa", env_suffix="qa", code_path=tmp_path)


def test_placeholder_only_when_allowed(tmp_path: Path) -> None:
    placeholder = tmp_path / "placeholder"
    with pytest.raises(ConfigError, match="run `make lambda-bundle` before `cdk deploy`"):
        lambda_code_path(tmp_path / "absent", placeholder)
    assert not placeholder.exists()
    assert lambda_code_path(tmp_path / "absent", placeholder, allow_placeholder=True) == placeholder
    assert (placeholder / "PLACEHOLDER.py").exists()
    bundle = tmp_path / "bundle"
    (bundle / "shipline").mkdir(parents=True)
    assert lambda_code_path(bundle, placeholder) == bundle


def test_deploy_without_a_bundle_fails(tmp_path: Path) -> None:
    for flag in (None, False, "false"):
        context: dict[str, Any] = {"lambda_bundle": str(tmp_path / "absent")}
        if flag is not None:
            context["allow_placeholder"] = flag
        with pytest.raises(ConfigError, match="no Lambda bundle"):
            build_app(cdk.App(outdir=str(tmp_path / "out"), context=context))


def test_cdk_json_runs_the_projects_venv() -> None:
    # `make install-test` creates .venv at the root; the system python3 has no aws_cdk.
    config = json.loads((Path(__file__).parents[2] / "infra" / "cdk.json").read_text())
    assert config["app"] == "../.venv/bin/python app.py"
    assert config["context"] == {"env": "dev"}


# The warehouse's network ------------------------------------------------------------------

WAREHOUSE_FUNCTIONS = ("stream", "loader", "base", "verify", "alerts")


def function(resources: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = of_type(resources, "AWS::Lambda::Function")[
        logical_id(resources, "AWS::Lambda::Function", FunctionName=name)
    ]["Properties"]
    return found


def security_group(resources: dict[str, Any], description: str) -> str:
    return logical_id(resources, "AWS::EC2::SecurityGroup", GroupDescription=description)


def test_no_lambda_names_a_database_file(resources: dict[str, Any]) -> None:
    for name, fn in of_type(resources, "AWS::Lambda::Function").items():
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        assert "SHIPLINE_DATABASE" not in variables, name


def test_warehouse_lambdas_find_the_workgroup_endpoint_and_the_secret(
    resources: dict[str, Any],
) -> None:
    workgroup = next(iter(of_type(resources, "AWS::RedshiftServerless::Workgroup")))
    secret = next(iter(of_type(resources, "AWS::SecretsManager::Secret")))
    namespace = next(iter(of_type(resources, "AWS::RedshiftServerless::Namespace").values()))
    for name in WAREHOUSE_FUNCTIONS:
        variables = function(resources, f"shipline-{name}-dev")["Environment"]["Variables"]
        assert variables["SHIPLINE_AWS_WAREHOUSE_HOST"] == {
            "Fn::GetAtt": [workgroup, "Workgroup.Endpoint.Address"]
        }
        assert variables["SHIPLINE_AWS_WAREHOUSE_SECRET_ARN"] == {"Ref": secret}
        assert variables["SHIPLINE_AWS_WAREHOUSE_DATABASE"] == namespace["Properties"]["DbName"]
        assert variables["SHIPLINE_AWS_WAREHOUSE_PORT"] == "5439"


def test_warehouse_lambdas_and_workgroup_share_the_isolated_subnets(
    template: Template, resources: dict[str, Any]
) -> None:
    subnets = [{"Ref": name} for name in of_type(resources, "AWS::EC2::Subnet")]
    assert len(subnets) == 2  # two AZs: enough without enhanced VPC routing
    clients = security_group(resources, "The Lambdas that use the warehouse")
    for name in WAREHOUSE_FUNCTIONS:
        vpc_config = function(resources, f"shipline-{name}-dev")["VpcConfig"]
        assert vpc_config["SubnetIds"] == subnets, name
        assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [clients, "GroupId"]}]
    assert "VpcConfig" not in function(resources, "shipment-event-processor-dev")
    warehouse = security_group(
        resources, "Redshift Serverless: port 5439 from the warehouse Lambdas only"
    )
    template.has_resource_properties(
        "AWS::RedshiftServerless::Workgroup",
        {
            "PubliclyAccessible": False,
            "EnhancedVpcRouting": False,
            "Port": 5439,
            "SubnetIds": subnets,
            "SecurityGroupIds": [{"Fn::GetAtt": [warehouse, "GroupId"]}],
        },
    )


def test_no_nat_and_no_internet_gateway(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)


def test_workgroup_admits_5439_from_the_warehouse_lambdas_only(
    resources: dict[str, Any],
) -> None:
    warehouse = security_group(
        resources, "Redshift Serverless: port 5439 from the warehouse Lambdas only"
    )
    clients = security_group(resources, "The Lambdas that use the warehouse")
    rules = [
        rule["Properties"]
        for rule in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [warehouse, "GroupId"]}
    ]
    assert [
        {k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort", "SourceSecurityGroupId")}
        for rule in rules
    ] == [
        {
            "IpProtocol": "tcp",
            "FromPort": 5439,
            "ToPort": 5439,
            "SourceSecurityGroupId": {"Fn::GetAtt": [clients, "GroupId"]},
        }
    ]
    assert (
        "SecurityGroupIngress"
        not in of_type(resources, "AWS::EC2::SecurityGroup")[warehouse]["Properties"]
    )


def service_of(endpoint: dict[str, Any]) -> str:
    name = endpoint["Properties"]["ServiceName"]
    parts = name["Fn::Join"][1] if isinstance(name, dict) else [name]
    return str(parts[-1]).rsplit(".", 1)[-1]


def test_endpoints_for_what_the_warehouse_lambdas_call(resources: dict[str, Any]) -> None:
    endpoints = {
        service_of(e): e["Properties"] for e in of_type(resources, "AWS::EC2::VPCEndpoint").values()
    }
    assert set(endpoints) == {"s3", "secretsmanager", "sns"}
    assert endpoints["s3"]["VpcEndpointType"] == "Gateway"
    assert len(endpoints["s3"]["RouteTableIds"]) == 2
    clients = security_group(resources, "The Lambdas that use the warehouse")
    ingress = [
        r["Properties"] for r in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
    ]
    for service in ("secretsmanager", "sns"):
        endpoint = endpoints[service]
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert len(endpoint["SubnetIds"]) == 2
        (group,) = endpoint["SecurityGroupIds"]
        # HTTPS from the warehouse Lambdas, nothing from the rest of the VPC.
        assert [
            (r["FromPort"], r["ToPort"], r.get("SourceSecurityGroupId"), r.get("CidrIp"))
            for r in ingress
            if r["GroupId"] == group
        ] == [(443, 443, {"Fn::GetAtt": [clients, "GroupId"]}, None)]
        group_id = group["Fn::GetAtt"][0]
        inline = of_type(resources, "AWS::EC2::SecurityGroup")[group_id]["Properties"]
        assert "SecurityGroupIngress" not in inline


def next_after_choice(state: dict[str, Any], document: dict[str, Any]) -> str:
    """Where a Choice state goes for ``document``: the first rule that holds, else its
    Default (the numeric comparisons and paths the nightly machine uses)."""

    def value(path: str) -> Any:
        found: Any = document
        for part in path.removeprefix("$.").split("."):
            found = found[part]
        return found

    tests = {
        "NumericGreaterThan": lambda a, b: a > b,
        "NumericEquals": lambda a, b: a == b,
    }
    for rule in state["Choices"]:
        (name,) = [key for key in rule if key in tests]
        if tests[name](value(rule["Variable"]), rule[name]):
            return str(rule["Next"])
    return str(state["Default"])


@pytest.mark.parametrize(("drift", "then"), [(0, "Notify"), (1, "PublishFailure")])
def test_the_nightly_run_fails_loudly_on_drift(
    resources: dict[str, Any], drift: int, then: str
) -> None:
    states = definition(resources)["States"]
    # The verify step's answer lands at $.verify, where the choice reads it.
    assert states["Verify"].get("ResultPath") == "$.verify"
    answer = {"verify": {"drift": drift, "shipments_checked": 10}}
    assert next_after_choice(states["Drift?"], answer) == then
