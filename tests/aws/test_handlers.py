"""The Lambda handlers against moto's server: EventBridge -> SQS -> DynamoDB -> warehouse."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.aws.handlers import (
    alerts_handler,
    base_handler,
    ingest_handler,
    loader_handler,
    stream_handler,
    verify_handler,
)
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.aws.conftest import BUS, TABLE, Aws, free_port, notifications, receive_all, sqs_event
from tests.engines import POSTGRES_URL, fresh_database

pytestmark = pytest.mark.slow


def entry(detail: Any, detail_type: str = "shipment.updated", source: str = "shipment.service"):
    return {
        "EventBusName": BUS,
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
    }


GOOD = [
    {
        "shipment_id": "SHP-1",
        "event_timestamp": "2026-01-02T10:00:00Z",
        "event_type": "created",
        "location_id": "NYC",
        "carrier": "FedEx",
        "event_data": {"origin": "NYC", "destination": "LAX"},
    },
    # Two events of one shipment at the same instant: the seed's (shipment_id,
    # event_timestamp) key would keep one of them.
    {
        "shipment_id": "SHP-1",
        "event_timestamp": "2026-01-02T12:00:00Z",
        "event_type": "picked_up",
        "event_id": "evt-pickup",
    },
    {
        "shipment_id": "SHP-1",
        "event_timestamp": "2026-01-02T12:00:00Z",
        "event_type": "in_transit",
        "event_id": "evt-transit",
    },
    {
        "shipment_id": "SHP-2",
        "event_timestamp": "2026-01-02T11:00:00+01:00",
        "event_type": "created",
    },
]
BAD = {
    "shipment_id": "SHP-3",
    "event_timestamp": "2026-01-02T10:00:00Z",
    "event_type": "teleported",
}


def put_and_receive(aws: Aws, entries: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    events = boto3.client("events")
    response = events.put_events(Entries=entries)
    assert response["FailedEntryCount"] == 0
    messages = receive_all(aws.queue_url, expected)
    assert len(messages) == expected
    return sqs_event(messages)


def items() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return found


def dlq_messages(aws: Aws, expected: int) -> list[dict[str, Any]]:
    return receive_all(aws.dlq_url, expected, attempts=5)


def stream_event() -> dict[str, Any]:
    """Every record of the table's stream so far, as Lambda would receive them."""
    dynamodb = boto3.client("dynamodb")
    streams = boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return {"Records": records}


def test_ingest_stores_once_and_dead_letters_bad_records(aws: Aws) -> None:
    entries = [entry(d) for d in GOOD] + [
        entry(BAD),
        entry(GOOD[0], source="other.service"),  # matches no rule
        entry(GOOD[0], detail_type="order.updated"),  # matches no rule
    ]
    event = put_and_receive(aws, entries, expected=5)

    assert ingest_handler(event, None) == {"batchItemFailures": []}
    stored = items()
    assert len(stored) == 4
    keys = sorted(item["event_key"]["S"] for item in stored if item["shipment_id"]["S"] == "SHP-1")
    assert keys[1:] == [
        "2026-01-02T12:00:00.000000Z#evt-pickup",
        "2026-01-02T12:00:00.000000Z#evt-transit",
    ]
    shp2 = next(item for item in stored if item["shipment_id"]["S"] == "SHP-2")
    assert shp2["event_timestamp"]["S"] == "2026-01-02T10:00:00.000000Z"  # normalised to UTC
    assert shp2["processing_status"]["S"] == "stored"
    assert int(shp2["expires_at"]["N"]) - int(shp2["received_at"]["N"]) == 90 * 86_400

    (rejected,) = dlq_messages(aws, 1)
    assert json.loads(rejected["Body"])["detail"] == BAD
    reason = rejected["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("event_type: unknown value")

    # A redelivered batch is a duplicate, not a second row; the bad record is not retried.
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    assert len(items()) == 4


def test_conflict_and_invalid_json_are_dead_lettered(aws: Aws) -> None:
    changed = {**GOOD[1], "location_id": "elsewhere"}  # same event_id, other content
    event = put_and_receive(aws, [entry(GOOD[1])], expected=1)
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    event = put_and_receive(aws, [entry(changed)], expected=1)
    event["Records"].append({**event["Records"][0], "messageId": "not-json", "body": "{oops"})

    assert ingest_handler(event, None) == {"batchItemFailures": []}
    assert len(items()) == 1
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in dlq_messages(aws, 2))
    assert reasons[0].startswith("body: not valid JSON")
    assert "already stored with different content" in reasons[1]


def test_only_transient_failures_are_retried(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    event = put_and_receive(aws, [entry(GOOD[0]), entry(BAD)], expected=2)
    good_id = next(r["messageId"] for r in event["Records"] if "NYC" in r["body"])
    # DynamoDB unreachable: a transient failure; SQS (for the dead letter) still works.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    assert ingest_handler(event, None) == {"batchItemFailures": [{"itemIdentifier": good_id}]}
    assert len(dlq_messages(aws, 1)) == 1

    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    assert len(items()) == 1


@pytest.mark.postgres
def test_stream_to_a_postgres_warehouse_matches_full_recompute(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warehouse the stream handler writes to is PostgreSQL, standing in for Redshift."""
    with fresh_database("postgres") as warehouse:
        monkeypatch.setenv("SHIPLINE_DATABASE", warehouse)
        event = put_and_receive(aws, [entry(d) for d in GOOD], expected=4)
        assert ingest_handler(event, None) == {"batchItemFailures": []}
        summary = stream_handler(stream_event(), None)
        assert (summary["accepted"], summary["incremental"]["events"]) == (4, 4)
        with Pipeline(Settings(database=warehouse)) as pipeline:
            assert pipeline.verify().drift == 0
            assert len(pipeline.timeline("SHP-1")) == 3
        assert verify_handler({}, None)["drift"] == 0


@pytest.mark.postgres
def test_without_a_database_the_handlers_find_the_warehouse_through_its_secret(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on AWS: no SHIPLINE_DATABASE, only the secret's ARN; PostgreSQL stands in for Redshift."""
    server = urlsplit(POSTGRES_URL)
    with fresh_database("postgres") as warehouse:
        secret = {
            "engine": "postgres",
            "host": server.hostname,
            "port": server.port or 5432,
            "username": unquote(server.username or "postgres"),
            # Trust auth never asks for it; the characters prove the URL's quoting.
            "password": unquote(server.password) if server.password else "p@ss:w/rd?#% x",
            "dbname": server.path.lstrip("/"),
        }
        arn = boto3.client("secretsmanager").create_secret(
            Name="shipline/warehouse-test", SecretString=json.dumps(secret)
        )["ARN"]
        monkeypatch.delenv("SHIPLINE_DATABASE")
        monkeypatch.setenv("SHIPLINE_AWS_WAREHOUSE_SECRET_ARN", arn)
        # The scratch schema, as fresh_database's URL selects it (libpq's PGOPTIONS is
        # the URL's options parameter); a Redshift secret needs none.
        monkeypatch.setenv("PGOPTIONS", parse_qs(urlsplit(warehouse).query)["options"][0])

        event = put_and_receive(aws, [entry(d) for d in GOOD], expected=4)
        assert ingest_handler(event, None) == {"batchItemFailures": []}
        summary = stream_handler(stream_event(), None)
        assert (summary["accepted"], summary["incremental"]["events"]) == (4, 4)
        assert base_handler({"as_of": "2026-01-03"}, None)["process_type"] == "daily_base"
        assert verify_handler({}, None)["drift"] == 0

        with Pipeline(Settings(database=warehouse)) as pipeline:
            stored = pipeline.backend.fetchall("SELECT count(*) FROM shipment_events")
            assert stored == [(4,)]
            assert len(pipeline.timeline("SHP-1")) == 3
            assert pipeline.verify().drift == 0


def test_stream_to_warehouse_matches_full_recompute(aws: Aws) -> None:
    event = put_and_receive(aws, [entry(d) for d in GOOD], expected=4)
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    stream = stream_event()
    assert len(stream["Records"]) == 4

    summary = stream_handler(stream, None)
    assert (summary["accepted"], summary["rejected"]) == (4, 0)
    assert summary["incremental"]["events"] == 4
    again = stream_handler(stream, None)  # a retried batch adds nothing
    assert (again["accepted"], again["duplicates"]) == (0, 4)

    with aws.pipeline() as pipeline:
        result = pipeline.verify()
        timeline = pipeline.timeline("SHP-1")
        stored = pipeline.backend.fetchall(
            "SELECT event_id FROM shipment_events WHERE shipment_id = 'SHP-1' ORDER BY 1"
        )
    assert result.drift == 0
    assert result.shipments_checked == 2
    assert len(timeline) == 3
    assert [row[0] for row in stored][1:] == ["evt-pickup", "evt-transit"]

    assert verify_handler({}, None)["drift"] == 0
    base = base_handler({"as_of": "2026-01-03"}, None)
    assert base["process_type"] == "daily_base"
    assert verify_handler({}, None)["drift"] == 0


def parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def s3_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}},
            }
        ]
    }


def test_loader_loads_and_reports_to_sns(aws: Aws) -> None:
    s3 = boto3.client("s3")
    body = parquet([{"order_id": i, "amount": 10.0 * i} for i in range(1, 6)])
    key = "order_summary/order_summary_20260102_001.parquet"
    s3.put_object(Bucket=aws.bucket, Key=key, Body=body)

    result = loader_handler(s3_event(aws.bucket, key, len(body)), None)
    (outcome,) = result["outcomes"]
    assert (outcome["status"], outcome["table"], outcome["rows"]) == ("loaded", "order_summary", 5)
    with aws.pipeline() as pipeline:
        assert pipeline.backend.fetchone("SELECT count(*) FROM order_summary") == (5,)

    messages = notifications(aws, 2)
    assert [m["kind"] for m in messages] == ["upload", "success"]
    assert messages[1]["details"]["rows"] == 5
    assert messages[1]["Subject"] == "shipline: loaded 5 rows into order_summary"


def test_loader_reports_a_bad_file_and_skips_quarantine(aws: Aws) -> None:
    s3 = boto3.client("s3")
    key = "order_summary/broken+file.parquet"  # S3 notifications URL-encode keys
    s3.put_object(Bucket=aws.bucket, Key="order_summary/broken file.parquet", Body=b"not parquet")

    (outcome,) = loader_handler(s3_event(aws.bucket, key, 11), None)["outcomes"]
    assert outcome["status"] == "failed"
    assert outcome["quarantined_to"]
    kinds = [m["kind"] for m in notifications(aws, 2)]
    assert kinds == ["upload", "failure"]
    quarantined = outcome["quarantined_to"].removeprefix(f"s3://{aws.bucket}/")
    assert loader_handler(s3_event(aws.bucket, quarantined, 11), None) == {"outcomes": []}


def test_alerts_publish_a_firing_rule_once(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        "Alerts:\n"
        "  EventsArrived:\n"
        '    condition: "events_accepted > 0"\n'
        '    severity: "INFO"\n'
        '    action: "None"\n'
    )
    monkeypatch.setenv("SHIPLINE_ALERTS_FILE", str(rules))
    with aws.pipeline() as pipeline:
        pipeline.ingest_records(GOOD, "test")

    first = alerts_handler({}, None)
    assert first["firing"] == ["EventsArrived"]
    assert first["published"] == 1
    (message,) = notifications(aws, 1)
    assert message["kind"] == "failure"
    assert message["Subject"] == "shipline: [INFO] EventsArrived firing"
    assert alerts_handler({}, None)["published"] == 0  # notify once
