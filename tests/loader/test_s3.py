"""The loader against S3: moto's server on 127.0.0.1, a real boto3 client."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.engines import fresh_database


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-global: start each test from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    yield endpoint
    server.stop()


def parquet(rows: list[dict[str, object]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def test_s3_prefix_loads_quarantines_and_skips(s3_endpoint: str, engine: str) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    good = "landing/order_summary/year=2025/month=11/day=13/order_summary_20251113_001.parquet"
    bad = "landing/order_items/year=2025/month=11/day=13/order_items_20251113_001.parquet"
    s3.put_object(Bucket="lake", Key=good, Body=parquet([{"order_id": "A", "total": 3.5}]))
    s3.put_object(Bucket="lake", Key=bad, Body=b"not parquet")
    with (
        fresh_database(engine) as db,
        Pipeline(Settings(database=db, loader_s3_endpoint_url=s3_endpoint)) as pipeline,
    ):
        outcomes = pipeline.load_files(["s3://lake/landing/"])
        assert [(o["table"], o["status"]) for o in outcomes] == [
            ("order_items", "failed"),
            ("order_summary", "loaded"),
        ]
        assert pipeline.backend.fetchall("SELECT * FROM order_summary") == [("A", 3.5)]
        etag = s3.head_object(Bucket="lake", Key=good)["ETag"].strip('"')
        ledger = {r["table_name"]: r for r in pipeline.loads()}
        assert ledger["order_summary"]["checksum"] == etag
        assert ledger["order_items"]["quarantined_to"] == f"s3://lake/_quarantine/{bad}"
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]}
        assert keys == {good, f"_quarantine/{bad}", f"_quarantine/{bad}.reason.txt"}
        reason = s3.get_object(Bucket="lake", Key=f"_quarantine/{bad}.reason.txt")["Body"].read()
        assert b"not a Parquet file" in reason

        assert [o["status"] for o in pipeline.load_files(["s3://lake/landing/"])] == ["skipped"]

        # Watching: a new object is picked up once it is stable across two polls.
        newer = "landing/order_summary/year=2025/month=11/day=14/order_summary_20251114_001.parquet"
        s3.put_object(Bucket="lake", Key=newer, Body=parquet([{"order_id": "A", "total": 9.0}]))
        polls = iter(range(3))
        seen: list[dict[str, object]] = []
        pipeline.watch_files(
            "s3://lake/landing/",
            should_stop=lambda: next(polls, None) is None,
            on_file=seen.append,
            interval_seconds=0.01,
        )
        assert [o["status"] for o in seen] == ["loaded"]
        assert pipeline.backend.fetchall("SELECT * FROM order_summary") == [("A", 9.0)]
