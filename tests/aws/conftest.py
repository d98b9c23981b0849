"""moto's server on 127.0.0.1 and the stack's resources, for calling the handlers in-process.

moto runs no Lambda: the tests receive from SQS (EventBridge's deliveries, and the
landing bucket's S3 notifications), read the DynamoDB stream, then call the
handlers with what they received, as Lambda would.

The ``warehouse`` fixture is the database the warehouse handlers write to, once per
engine: DuckDB, and PostgreSQL standing in for Redshift (marked ``postgres``).
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from shipline.aws.container import pipelines
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database

TABLE = "shipmentevents-test"
BUS = "shipmentevents-test"


@dataclass
class Aws:
    """Clients and names of the resources the stack would create."""

    endpoint: str
    database: Path
    queue_url: str
    dlq_url: str
    topic_arn: str
    topic_queue_url: str
    bucket: str
    landing_queue_url: str
    """Where the landing bucket's object-created notifications go."""

    def client(self, service: str) -> Any:
        return boto3.client(service)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-global: start each test from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    database = tmp_path / "warehouse.duckdb"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_ENDPOINT_URL": endpoint,
        "SHIPLINE_CONFIG": str(tmp_path / "absent.toml"),
        "SHIPLINE_DATABASE": str(database),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-aws-config"))
    try:
        yield _create(endpoint, database, monkeypatch)
    finally:
        pipelines.clear()  # the handlers' cached pipelines: a new container per test
        server.stop()


@pytest.fixture
def warehouse(aws: Aws, engine: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh warehouse on ``engine``, named by ``SHIPLINE_DATABASE`` as the handlers see it."""
    with fresh_database(engine) as database:
        monkeypatch.setenv("SHIPLINE_DATABASE", database)
        try:
            yield database
        finally:
            # Before the schema is dropped: a cached connection would hold DROP SCHEMA up.
            pipelines.clear()


def open_warehouse(database: str) -> Pipeline:
    """The test's own pipeline over the handlers' warehouse, to look at what they wrote."""
    return Pipeline(Settings(database=database))


def _create(endpoint: str, database: Path, monkeypatch: pytest.MonkeyPatch) -> Aws:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "shipment_id", "AttributeType": "S"},
            {"AttributeName": "event_key", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "shipment_id", "KeyType": "HASH"},
            {"AttributeName": "event_key", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="shipmentevents-dlq-test")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="shipmentevents-queue-test",
        Attributes={
            "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]

    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    events.put_rule(
        Name="shipment-event-rule-test",
        EventBusName=BUS,
        EventPattern=json.dumps(
            {"source": ["shipment.service"], "detail-type": [{"prefix": "shipment."}]}
        ),
    )
    events.put_targets(
        Rule="shipment-event-rule-test",
        EventBusName=BUS,
        Targets=[{"Id": "queue", "Arn": queue_arn}],
    )

    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name="shipline-notifications-test")["TopicArn"]
    topic_queue_url = sqs.create_queue(QueueName="notifications-reader")["QueueUrl"]
    topic_queue_arn = sqs.get_queue_attributes(
        QueueUrl=topic_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=topic_queue_arn)

    bucket = "shipline-landing-test"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    landing_queue_url = sqs.create_queue(QueueName="landing-notifications")["QueueUrl"]
    landing_queue_arn = sqs.get_queue_attributes(
        QueueUrl=landing_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": landing_queue_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )

    monkeypatch.setenv("SHIPLINE_AWS_EVENTS_TABLE", TABLE)
    monkeypatch.setenv("SHIPLINE_AWS_REJECTS_QUEUE_URL", dlq_url)
    monkeypatch.setenv("SHIPLINE_AWS_TOPIC_ARN", topic_arn)
    return Aws(
        endpoint,
        database,
        queue_url,
        dlq_url,
        topic_arn,
        topic_queue_url,
        bucket,
        landing_queue_url,
    )


def receive_all(queue_url: str, expected: int, attempts: int = 20) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived (or attempts run out), as SQS gives them."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    for _ in range(attempts):
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        found.extend(response.get("Messages", []))
        if len(found) >= expected:
            break
    return found


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS poller would pass for these messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:shipmentevents-queue-test",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def notifications(aws: Aws, expected: int) -> list[dict[str, Any]]:
    """The SNS messages published so far, read through the SQS subscription."""
    bodies = [json.loads(m["Body"]) for m in receive_all(aws.topic_queue_url, expected)]
    return [json.loads(body["Message"]) | {"Subject": body.get("Subject")} for body in bodies]


def s3_notifications(aws: Aws, expected: int) -> list[dict[str, Any]]:
    """The landing bucket's notifications so far, each the event S3 would give a Lambda.

    S3 sends an ``s3:TestEvent`` (no ``Records``) when the configuration is set; it is
    among them, first.
    """
    messages = receive_all(aws.landing_queue_url, expected)
    return [json.loads(m["Body"]) for m in messages]
