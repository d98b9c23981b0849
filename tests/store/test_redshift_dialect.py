"""The Redshift path: every statement of the pipeline rendered in Redshift's dialect.

No Redshift runs here, so the rendered statements run on PostgreSQL
(``tests.store.redshift_on_postgres``). The timeline runs and the loader must then
be as exact as on any other engine, and no statement sent may hold a construct of
``POSTGRES_ONLY``; ``test_redshift_paths.py`` runs every other path.

Everything runs over both of the backend's drivers: psycopg, and AWS's
``redshift_connector`` through ``startup_proxy.StartupProxy``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.loader import Loader, LocalSource, list_loads
from shipline.notify import FanOut, LogNotifier
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.redshift import copy_statement
from tests.engines import fresh_database
from tests.store.redshift_on_postgres import (
    DRIVERS,
    POSTGRES_ONLY,
    event,
    postgres_only,
    redshift_on_postgres,
)
from tests.store.startup_proxy import StartupProxy

pytestmark = [pytest.mark.postgres]


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_whole_flow_in_redshift_sql_is_exact_and_free_of_postgres_only_sql(
    driver: str, proxy: StartupProxy
) -> None:
    with fresh_database("postgres") as database:
        backend = redshift_on_postgres(database, driver, proxy)
        pipeline = Pipeline(Settings(database=database), backend=backend)

        pipeline.ingest_records(
            [
                event("A", "2026-01-01T00:00:00Z", "created", "L1"),
                event("A", "2026-01-01T05:00:00Z", "picked_up", "L1"),
                event("A", "2026-01-02T00:00:00Z", "delivered", "L2"),
                event("B", "2026-01-01T01:00:00Z", "created"),
                event("B", "2026-01-01T01:00:00Z", "nope"),
            ],
            "test",
        )
        pipeline.base(as_of=date(2026, 1, 3))
        pipeline.ingest_records(
            [event("A", "2026-01-01T10:00:00Z", "arrived_at_facility", "L3"),
             event("B", "2026-01-01T02:00:00Z", "picked_up"),
             event("C", "2026-01-01T02:00:00Z", "created")],
            "test",
        )  # fmt: skip
        pipeline.incremental()
        pipeline.incremental(replay_from=datetime(2026, 1, 1, 4, tzinfo=UTC))
        assert [row["event_sequence"] for row in pipeline.timeline("A")] == [1, 2, 3, 4]
        assert str(pipeline.timeline("A")[3]["cumulative_transit_hours"]) == "24.000000"
        assert pipeline.verify().drift == 0
        assert pipeline.summary("A")["delivered_at"] is not None
        assert len(pipeline.dead_letters()) == 1
        backend.close()

    assert postgres_only(backend.statements) == []
    assert any("DATEDIFF(microsecond," in s for s in backend.statements)
    assert any("INTERVAL DAY TO SECOND" in s for s in backend.statements)
    # Redshift finds one shipment's rows by the sort key (it has no indexes).
    created = {
        found.group(1): s
        for s in backend.statements
        if (found := re.search(r"CREATE TABLE IF NOT EXISTS (\w+) \(", s))
    }
    assert created["shipment_timeline_base"].endswith(
        " DISTSTYLE KEY DISTKEY(shipment_id)"
        " COMPOUND SORTKEY(shipment_id, event_timestamp, event_id)"
    )
    assert created["shipment_events"].endswith(
        " DISTKEY(shipment_id) COMPOUND SORTKEY(shipment_id, event_timestamp)"
    )
    assert "SORTKEY" not in created["dead_letters"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_loader_in_redshift_sql_upserts_and_stays_free_of_postgres_only_sql(
    driver: str, proxy: StartupProxy, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    first = pa.table({"order_id": ["A", "B"], "total": [1.5, 2.5], "note": [None, None]})
    second = pa.table({"order_id": ["B", "C"], "total": [7.0, 3.0], "channel": ["web", None]})
    pq.write_table(first, landing / "order_summary_20260101_001.parquet")
    pq.write_table(second, landing / "order_summary_20260102_001.parquet")
    with fresh_database("postgres") as database:
        backend = redshift_on_postgres(database, driver, proxy)
        backend.migrate()
        loader = Loader(backend, FanOut([LogNotifier()]), keys={"order_summary": ["order_id"]})

        outcomes = loader.load_all(LocalSource(landing))

        assert [(o.status, o.inserted, o.updated) for o in outcomes] == [
            ("loaded", 2, 0),
            ("loaded", 1, 1),
        ]
        rows = backend.fetchall("SELECT order_id, total, note, channel FROM order_summary")
        assert sorted(rows) == [
            ("A", 1.5, None, None),
            ("B", 7.0, None, "web"),
            ("C", 3.0, None, None),
        ]
        assert [row["status"] for row in list_loads(backend)] == ["loaded", "loaded"]
        backend.close()
    assert postgres_only(backend.statements) == []


POSTGRES_SAMPLES = {
    "ON CONFLICT": "INSERT INTO t VALUES (%s) ON CONFLICT (k) DO NOTHING",
    "MERGE": "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED THEN DELETE",
    "RETURNING": "DELETE FROM t WHERE k = 1 RETURNING k",
    "advisory locks": "SELECT pg_advisory_xact_lock(1, 2)",
    "FILTER (WHERE": "SELECT count(*) FILTER (WHERE a > 1) FROM t",
    "IS DISTINCT FROM": "SELECT a IS NOT DISTINCT FROM b FROM t",
    "identity and generated columns": "CREATE TABLE t (k BIGINT GENERATED ALWAYS AS IDENTITY)",
    "SERIAL": "CREATE TABLE t (k BIGSERIAL)",
    "sequences": "SELECT nextval('t_k_seq')",
    "JSONB": "SELECT '{}'::jsonb",
    "arrays": "SELECT * FROM t WHERE k = ANY(ARRAY[1, 2])",
    "generate_series": "INSERT INTO t SELECT g FROM generate_series(1, 3) AS g",
    "COPY FROM STDIN": 'COPY "stage" FROM STDIN WITH (FORMAT csv)',
    "EXCEPT ALL / INTERSECT ALL": "SELECT a FROM t EXCEPT ALL SELECT a FROM u",
    "bare INTERVAL type": "CREATE TABLE t (d INTERVAL)",
    "LATERAL": "SELECT * FROM t, LATERAL (SELECT 1) AS x",
    "DISTINCT ON": "SELECT DISTINCT ON (k) k, a FROM t",
    "EXTRACT(EPOCH": "SELECT EXTRACT(EPOCH FROM a) FROM t",
    "DIV(": "SELECT DIV(a, 3600) FROM t",
    "WINDOW clause": "SELECT sum(a) OVER w FROM t WINDOW w AS (PARTITION BY k)",
    "VALUES as a table": "SELECT * FROM (VALUES (1, 2)) AS v(a, b)",
    "functions of PostgreSQL's with no Redshift equivalent": "SELECT string_agg(a, ',') FROM t",
    "leader-node-only date functions": "SELECT now() - a FROM t",
    "CURRENT_SCHEMA on a user table": "SELECT current_schema() AS s, a FROM t",
    "indexes": "CREATE INDEX t_k ON t (k)",
    "TRUNCATE": "TRUNCATE t",
    "savepoints": "SAVEPOINT before_load",
    "ON COMMIT": "CREATE TEMPORARY TABLE s (a INT) ON COMMIT DROP",
    "ordered window without a frame": "SELECT first_value(a) OVER (ORDER BY b) FROM t",
}
"""One statement PostgreSQL accepts and Redshift refuses, per construct."""

REDSHIFT_SAMPLES = [
    "INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s)",
    "SELECT a FROM t WHERE d > GETDATE() - INTERVAL '1 day' AND note LIKE '%%on conflict%%'",
    "CREATE TABLE t (d INTERVAL DAY TO SECOND, e INTERVAL YEAR TO MONTH)",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA",
    "SELECT ROW_NUMBER() OVER (ORDER BY a), LAG(a) OVER (PARTITION BY k ORDER BY a),"
    " SUM(a) OVER (ORDER BY a ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),"
    " MIN(a) OVER (PARTITION BY k) FROM t",
    "/* upserts: no MERGE, no RETURNING, no sequence */ DELETE FROM t WHERE k IN (%s)",
    'LOCK "processing_checkpoints"',
    "SELECT a FROM t EXCEPT SELECT a FROM u",
]
"""Statements Redshift accepts that look like some of those constructs."""


def test_each_postgres_only_construct_is_told_from_redshift_sql() -> None:
    assert set(POSTGRES_SAMPLES) == {construct.name for construct in POSTGRES_ONLY}
    for construct in POSTGRES_ONLY:
        sample = POSTGRES_SAMPLES[construct.name]
        assert postgres_only([sample], POSTGRES_ONLY) == [(construct.name, sample)]
    assert postgres_only(REDSHIFT_SAMPLES, POSTGRES_ONLY) == []


@pytest.mark.parametrize(
    ("file_format", "gzipped", "expected"),
    [
        (
            "parquet",
            False,
            "COPY \"stage\" FROM 's3://lake/o.parquet' IAM_ROLE default FORMAT AS PARQUET",
        ),
        ("csv", True, "FORMAT AS CSV IGNOREHEADER 1 TIMEFORMAT 'auto' DATEFORMAT 'auto' GZIP"),
        ("ndjson", False, "FORMAT AS JSON 'auto ignorecase'"),
    ],
)
def test_redshift_copies_landing_files_straight_from_s3(
    file_format: str, gzipped: bool, expected: str
) -> None:
    statement = copy_statement("stage", "s3://lake/o.parquet", file_format, gzipped, "default")
    assert statement is not None and expected in statement


def test_redshift_copy_names_a_role_and_leaves_json_arrays_to_insert() -> None:
    role = "arn:aws:iam::123456789012:role/shipline-warehouse"
    statement = copy_statement("stage", "s3://lake/it's.csv", "csv", False, role)
    assert statement is not None
    assert f"IAM_ROLE '{role}'" in statement and "'s3://lake/it''s.csv'" in statement
    assert copy_statement("stage", "s3://lake/o.json", "json", False, role) is None
