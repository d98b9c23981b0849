"""The loader against S3: moto's server on 127.0.0.1, a real boto3 client."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from shipline.ingest.dead_letters import list_dead_letters
from shipline.loader import Loader, S3Source, list_loads
from shipline.notify import FanOut, LogNotifier
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store import Backend
from tests.engines import fresh_database


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


class NoQuarantine:
    """An S3 client that cannot write the quarantine copy (as without PutObject there)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def copy_object(self, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "CopyObject")


def test_s3_files_refused_or_not_quarantined_are_recorded_once(
    s3_endpoint: str, backend: Backend
) -> None:
    """A redelivered notification (a Lambda retry) of a file that failed and stayed put is
    skipped; an object past the cap is refused without being downloaded."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    bad = "landing/order_items_20251113_001.parquet"
    big = "landing/order_summary_20251113_001.csv"
    s3.put_object(Bucket="lake", Key=bad, Body=b"not parquet")
    s3.put_object(Bucket="lake", Key=big, Body=b"order_id\n" + b"A\n" * 1000)
    source = S3Source(NoQuarantine(s3), "lake", "landing/")  # type: ignore[arg-type]
    loader = Loader(backend, FanOut([LogNotifier()]), max_uncompressed_bytes=1000)
    listed_bad, listed_big = source.list_files()

    first, again = loader.load(source, listed_bad), loader.load(source, listed_bad)
    assert (first.status, first.quarantined_to, first.retryable) == ("failed", None, False)
    assert "(not quarantined: " in (first.error or "")
    assert (again.status, (again.error or "")[:13]) == ("skipped", "failed before")

    refused = loader.load(S3Source(s3, "lake", "landing/"), listed_big)
    assert refused.error == (
        "order_summary_20251113_001.csv: 2,009 bytes, more than the 1,000 bytes"
        " loader_max_uncompressed_bytes allows; split the file, or raise"
        " loader_max_uncompressed_bytes"
    )
    assert refused.quarantined_to == f"s3://lake/_quarantine/{big}"
    assert [(r["file_key"], r["status"]) for r in reversed(list_loads(backend))] == [
        (f"s3://lake/{bad}", "failed"),
        (f"s3://lake/{big}", "failed"),
    ]
    assert len(list_dead_letters(backend)) == 2
