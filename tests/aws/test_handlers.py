"""The Lambda handlers against moto's server: EventBridge -> SQS -> DynamoDB -> warehouse.

The ingest tests touch only SQS and DynamoDB. The warehouse tests (stream, loader,
alerts) take the ``warehouse`` fixture and so run on DuckDB and on PostgreSQL, which
stands in for Redshift.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.aws.container import pipelines
from shipline.aws.handlers import (
    alerts_handler,
    base_handler,
    ingest_handler,
    loader_handler,
    stream_handler,
    verify_handler,
)
from shipline.errors import ConfigError, TransientBackendError
from shipline.notify import Notification
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.aws.conftest import (
    BUS,
    TABLE,
    Aws,
    free_port,
    notifications,
    open_warehouse,
    receive_all,
    s3_notifications,
    sqs_event,
)
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


def reasons(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in messages)


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


# Ingest: SQS -> DynamoDB ------------------------------------------------------------------


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
    found = reasons(dlq_messages(aws, 2))
    assert found[0].startswith("body: not valid JSON")
    assert "already stored with different content" in found[1]


def test_an_unreachable_dynamodb_is_transient_and_only_its_records_are_retried(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
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


def test_an_item_over_400_kb_is_dead_lettered_with_what_to_fix(aws: Aws) -> None:
    """SQS takes bodies up to 1 MiB, DynamoDB items up to 400 KB: DynamoDB refuses it."""
    large = {**GOOD[0], "shipment_id": "SHP-BIG", "event_data": {"scan": "x" * 420_000}}
    sqs = boto3.client("sqs")
    for detail in (large, GOOD[3]):
        envelope = {"source": "shipment.service", "detail-type": "shipment.updated"}
        sqs.send_message(
            QueueUrl=aws.queue_url, MessageBody=json.dumps(envelope | {"detail": detail})
        )
    event = sqs_event(receive_all(aws.queue_url, 2))

    assert ingest_handler(event, None) == {"batchItemFailures": []}  # retrying cannot help
    assert [item["shipment_id"]["S"] for item in items()] == ["SHP-2"]
    (rejected,) = dlq_messages(aws, 1)
    assert json.loads(rejected["Body"])["detail"]["shipment_id"] == "SHP-BIG"
    reason = rejected["MessageAttributes"]["reason"]["StringValue"]
    assert "over DynamoDB's 400 KB limit; make event_data smaller" in reason
    assert "ValidationException" in reason  # DynamoDB's own word, kept


def test_a_missing_table_fails_the_invocation_before_anything_is_dead_lettered(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = put_and_receive(aws, [entry(GOOD[0]), entry(BAD)], expected=2)
    monkeypatch.setenv("SHIPLINE_AWS_EVENTS_TABLE", "no-such-table")

    with pytest.raises(ConfigError, match="does not exist") as raised:
        ingest_handler(event, None)
    assert "ResourceNotFoundException" in str(raised.value)
    assert "check SHIPLINE_AWS_EVENTS_TABLE" in str(raised.value)
    # Lambda's failure leaves both messages on the queue; none was dead-lettered yet,
    # so the redelivery after the fix dead-letters the bad one exactly once.
    assert dlq_messages(aws, 0) == []

    monkeypatch.setenv("SHIPLINE_AWS_EVENTS_TABLE", TABLE)
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    assert len(items()) == 1
    assert len(dlq_messages(aws, 1)) == 1


def test_a_missing_rejects_queue_fails_the_invocation(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = put_and_receive(aws, [entry(BAD)], expected=1)
    missing = aws.dlq_url.rsplit("/", 1)[0] + "/no-such-queue"
    monkeypatch.setenv("SHIPLINE_AWS_REJECTS_QUEUE_URL", missing)
    with pytest.raises(ConfigError, match="SHIPLINE_AWS_REJECTS_QUEUE_URL"):
        ingest_handler(event, None)

    monkeypatch.delenv("SHIPLINE_AWS_REJECTS_QUEUE_URL")
    with pytest.raises(ConfigError, match="is not set"):
        ingest_handler(event, None)


def test_an_alias_to_an_unknown_type_fails_the_invocation_and_stores_nothing(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = put_and_receive(aws, [entry(GOOD[0]), entry(BAD)], expected=2)
    monkeypatch.setenv("SHIPLINE_ALIASES__EVENT_TYPE", json.dumps({"DLV": "teleported"}))

    with pytest.raises(ConfigError, match="alias 'DLV'"):
        ingest_handler(event, None)
    assert items() == []
    assert dlq_messages(aws, 0) == []

    # The same aliases as `shipline ingest`: a good alias maps the bad record's type.
    monkeypatch.setenv("SHIPLINE_ALIASES__EVENT_TYPE", json.dumps({"teleported": "in_transit"}))
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    assert sorted(item["event_type"]["S"] for item in items()) == ["created", "in_transit"]


# Stream: DynamoDB -> warehouse --------------------------------------------------------------


def test_stream_to_the_warehouse_matches_full_recompute(aws: Aws, warehouse: str) -> None:
    event = put_and_receive(aws, [entry(d) for d in GOOD], expected=4)
    assert ingest_handler(event, None) == {"batchItemFailures": []}
    stream = stream_event()
    assert len(stream["Records"]) == 4

    summary = stream_handler(stream, None)
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (4, 0, 0)
    assert summary["incremental"]["events"] == 4
    with open_warehouse(warehouse) as pipeline:
        result = pipeline.verify()
        timelines = {s: pipeline.timeline(s) for s in ("SHP-1", "SHP-2")}
        stored = pipeline.backend.fetchall(
            "SELECT event_id FROM shipment_events WHERE shipment_id = 'SHP-1' ORDER BY 1"
        )
    assert result.drift == 0
    # Two shipments, one timeline row per event: 3 for SHP-1, 1 for SHP-2.
    assert (result.shipments_checked, result.rows_checked) == (2, 4)
    assert [len(timelines["SHP-1"]), len(timelines["SHP-2"])] == [3, 1]
    assert [row[0] for row in stored][1:] == ["evt-pickup", "evt-transit"]

    # The same records again (Lambda retrying the batch): duplicates, and no run.
    again = stream_handler(stream, None)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 4, 0)
    assert again["incremental"] is None
    with open_warehouse(warehouse) as pipeline:
        assert {s: pipeline.timeline(s) for s in ("SHP-1", "SHP-2")} == timelines
        assert pipeline.backend.scalar("SELECT count(*) FROM shipment_events") == 4

    checked = verify_handler({}, None)
    assert (checked["drift"], checked["shipments_checked"], checked["rows_checked"]) == (0, 2, 4)
    assert base_handler({"as_of": "2026-01-03"}, None)["process_type"] == "daily_base"
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
        try:
            event = put_and_receive(aws, [entry(d) for d in GOOD], expected=4)
            assert ingest_handler(event, None) == {"batchItemFailures": []}
            summary = stream_handler(stream_event(), None)
            assert (summary["accepted"], summary["incremental"]["events"]) == (4, 4)
            assert base_handler({"as_of": "2026-01-03"}, None)["process_type"] == "daily_base"
            assert verify_handler({}, None)["drift"] == 0
        finally:
            pipelines.clear()  # its connection would hold up dropping the schema

        with Pipeline(Settings(database=warehouse)) as pipeline:
            stored = pipeline.backend.fetchall("SELECT count(*) FROM shipment_events")
            assert stored == [(4,)]
            assert len(pipeline.timeline("SHP-1")) == 3
            assert pipeline.verify().drift == 0


# Loader: S3 -> warehouse tables ---------------------------------------------------------


def parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def csv(rows: range) -> bytes:
    return ("order_id,amount\n" + "".join(f"{i},{10.0 * i}\n" for i in rows)).encode()


def created(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notifications that announce objects (S3's TestEvent has no Records)."""
    return [e for e in events if "Records" in e]


def test_loader_loads_exactly_the_notified_object_and_reports_to_sns(
    aws: Aws, warehouse: str
) -> None:
    s3 = boto3.client("s3")
    key = "order_summary/order_summary_20260102_001.csv"
    # Another object whose key starts with the first one's: its own notification loads it.
    longer = key + ".gz"
    s3.put_object(Bucket=aws.bucket, Key=key, Body=csv(range(1, 6)))
    s3.put_object(Bucket=aws.bucket, Key=longer, Body=gzip.compress(csv(range(6, 9))))
    test_event, first, second = s3_notifications(aws, 3)
    assert test_event["Event"] == "s3:TestEvent"
    assert loader_handler(test_event, None) == {"outcomes": []}

    (outcome,) = loader_handler(first, None)["outcomes"]
    assert (outcome["file_key"], outcome["status"]) == (f"s3://{aws.bucket}/{key}", "loaded")
    assert (outcome["table"], outcome["rows"]) == ("order_summary", 5)
    with open_warehouse(warehouse) as pipeline:
        assert pipeline.backend.fetchone("SELECT count(*) FROM order_summary") == (5,)
    messages = notifications(aws, 2)
    assert [m["kind"] for m in messages] == ["upload", "success"]
    assert messages[1]["details"]["rows"] == 5
    assert messages[1]["Subject"] == "shipline: loaded 5 rows into order_summary"

    (outcome,) = loader_handler(second, None)["outcomes"]
    assert (outcome["file_key"], outcome["rows"]) == (f"s3://{aws.bucket}/{longer}", 3)
    with open_warehouse(warehouse) as pipeline:
        assert pipeline.backend.fetchone("SELECT count(*) FROM order_summary") == (8,)
    # A redelivered notification finds the file in the ledger.
    (again,) = loader_handler(first, None)["outcomes"]
    assert again["status"] == "skipped"


def test_loader_reports_a_bad_file_and_skips_its_quarantine(aws: Aws, warehouse: str) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws.bucket, Key="order_summary/broken file.parquet", Body=b"not parquet")
    (notified,) = created(s3_notifications(aws, 2))
    # URL-encoded, a space as "+" (moto encodes "/" too; S3 leaves it).
    assert notified["Records"][0]["s3"]["object"]["key"].endswith("broken+file.parquet")

    (outcome,) = loader_handler(notified, None)["outcomes"]
    assert outcome["file_key"] == f"s3://{aws.bucket}/order_summary/broken file.parquet"
    assert outcome["status"] == "failed"
    assert outcome["quarantined_to"]
    assert [m["kind"] for m in notifications(aws, 2)] == ["upload", "failure"]
    with open_warehouse(warehouse) as pipeline:
        (letter,) = pipeline.dead_letters()
        assert letter["source"] == "loader"

    # Quarantine copies the file and writes its reason: two more notifications, no loads.
    moved = created(s3_notifications(aws, 2))
    assert len(moved) == 2
    for event in moved:
        (skipped,) = loader_handler(event, None)["outcomes"]
        assert skipped["status"] == "skipped"
        assert skipped["error"].startswith("not a landing file")


# Alerts: every 5 minutes ------------------------------------------------------------------

EVENTS_ARRIVED = (
    "Alerts:\n"
    "  EventsArrived:\n"
    '    condition: "events_accepted > 0"\n'
    '    severity: "INFO"\n'
    '    action: "None"\n'
)


@pytest.fixture
def events_arrived(warehouse: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A rule that fires once events arrived, and an event in the warehouse."""
    rules = tmp_path / "alerts.yaml"
    rules.write_text(EVENTS_ARRIVED)
    monkeypatch.setenv("SHIPLINE_ALERTS_FILE", str(rules))
    with open_warehouse(warehouse) as pipeline:
        pipeline.ingest_records(GOOD, "test")
    return warehouse


def test_alerts_publish_a_firing_rule_once(aws: Aws, events_arrived: str) -> None:
    first = alerts_handler({}, None)
    assert first["firing"] == ["EventsArrived"]
    assert first["published"] == 1
    (message,) = notifications(aws, 1)
    assert message["kind"] == "failure"
    assert message["Subject"] == "shipline: [INFO] EventsArrived firing"
    count = f"{len(GOOD):,}"
    assert message["text"].startswith(f"EventsArrived is firing: events_accepted {count} > 0.")
    assert alerts_handler({}, None)["published"] == 0  # notify once
    with open_warehouse(events_arrived) as pipeline:
        recorded = "SELECT count(DISTINCT recorded_at) FROM monitor_metrics"
        assert pipeline.backend.scalar(recorded) == 2  # one snapshot per run


def test_a_failed_publish_fails_the_run_and_the_next_run_publishes(
    aws: Aws, events_arrived: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(TransientBackendError, match="publish an alert to SNS topic"):
        alerts_handler({}, None)
    with open_warehouse(events_arrived) as pipeline:
        assert pipeline.alert_states() == []  # not marked as notified

    monkeypatch.delenv("AWS_ENDPOINT_URL_SNS")
    assert alerts_handler({}, None)["published"] == 1
    assert [m["Subject"] for m in notifications(aws, 1)] == [
        "shipline: [INFO] EventsArrived firing"
    ]
    assert alerts_handler({}, None)["published"] == 0


class Flaky:
    """A notifier that raises at its ``fail_at``-th delivery, as SNS can mid-run."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.sent: list[str] = []

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("publish failed")
        self.sent.append(notification.details["rule"])


def test_a_tick_whose_notifier_fails_keeps_the_unsent_rules_for_the_next(
    warehouse: str, tmp_path: Any
) -> None:
    """What the alerts handler relies on (``Pipeline.monitor_tick`` with a notifier that raises)."""
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        EVENTS_ARRIVED
        + "".join(
            f'  {name}:\n    condition: "events_accepted > 0"\n    severity: "INFO"\n'
            '    action: "None"\n'
            for name in ("SecondRule", "ThirdRule")
        )
    )
    with open_warehouse(warehouse) as pipeline:
        pipeline.ingest_records(GOOD, "test")
        flaky = Flaky(fail_at=2)
        with pytest.raises(OSError, match="publish failed"):
            pipeline.monitor_tick(rules, notifier=flaky)
        assert (flaky.calls, flaky.sent) == (2, ["EventsArrived"])  # the third was not tried
        states = {row["rule_name"]: row["state"] for row in pipeline.alert_states()}
        assert states == {"EventsArrived": "firing"}  # the unsent two keep no state

        working = Flaky()
        outcomes = pipeline.monitor_tick(rules, notifier=working)
        assert [(o.rule, o.changed) for o in outcomes] == [
            ("EventsArrived", False),
            ("SecondRule", True),
            ("ThirdRule", True),
        ]
        assert working.sent == ["SecondRule", "ThirdRule"]
        assert pipeline.monitor_tick(rules, notifier=working) and working.calls == 2
