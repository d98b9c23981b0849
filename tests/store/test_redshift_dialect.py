"""The Redshift path: every statement of the pipeline rendered in Redshift's dialect.

No Redshift runs here, so the rendered statements run on PostgreSQL, which accepts
all of them but a few spellings of Redshift's built-ins: ``DATEDIFF(microsecond, a,
b)`` and ``GETDATE()`` are emulated by SQL functions of the same meaning, and
``VARCHAR(MAX)`` is read as ``VARCHAR``. The pipeline must then be as
exact as on any other engine, and no PostgreSQL-only construct may be left.

The flow runs over both of the backend's drivers: psycopg, and AWS's
``redshift_connector`` through ``startup_proxy.StartupProxy`` (the driver's
startup message names Redshift-only settings that PostgreSQL refuses).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.loader import Loader, LocalSource, list_loads
from shipline.notify import FanOut, LogNotifier
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.redshift import RedshiftBackend, copy_statement
from shipline.store.redshift_connector_driver import RedshiftConnectorConnection
from tests.engines import fresh_database
from tests.store.startup_proxy import StartupProxy, redshift_connector_url, schema_of

pytestmark = [pytest.mark.postgres]

DRIVERS = ("psycopg", "redshift_connector")

POSTGRES_ONLY = re.compile(
    r"IS DISTINCT FROM|FILTER\s*\(|ON CONFLICT|\bMERGE\b|pg_advisory|EXTRACT\s*\(\s*EPOCH"
    r"|EXCEPT ALL|RETURNING|nextval|\bDIV\(",
    re.IGNORECASE,
)

DATEDIFF = """
CREATE OR REPLACE FUNCTION datediff(part TEXT, a TIMESTAMPTZ, b TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE SQL IMMUTABLE AS $$
    SELECT CAST(EXTRACT(EPOCH FROM b) * 1000000 - EXTRACT(EPOCH FROM a) * 1000000 AS BIGINT)
$$;
CREATE OR REPLACE FUNCTION getdate() RETURNS TIMESTAMPTZ LANGUAGE SQL AS $$ SELECT now() $$
"""


class RedshiftOnPostgres(RedshiftBackend):
    """Redshift's SQL, executed by PostgreSQL; every rendered statement is kept."""

    rendered: list[str]

    def render(self, sql: str) -> tuple[str, ...]:
        statements = super().render(sql)
        self.rendered.extend(statements)
        return tuple(
            s.replace("DATEDIFF(microsecond,", "datediff('microsecond',").replace(
                "VARCHAR(MAX)", "VARCHAR"
            )
            for s in statements
        )


def redshift_on_postgres(database: str, driver: str, proxy: StartupProxy) -> RedshiftOnPostgres:
    """A Redshift backend on a PostgreSQL database, with Redshift's built-ins emulated.

    Over redshift_connector the backend connects through ``proxy`` and sets the
    test's schema itself, as the driver has no ``options`` to set it with.
    """
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(DATEDIFF.encode())  # in the test's schema, first on its path
    RedshiftOnPostgres.rendered = []
    if driver == "psycopg":
        return RedshiftOnPostgres(database)
    backend = RedshiftOnPostgres(redshift_connector_url(database, proxy))
    assert isinstance(backend._con, RedshiftConnectorConnection)
    backend._con.run(f'SET search_path TO "{schema_of(database)}"')
    return backend


def event(shipment: str, at: str, kind: str, location: str | None = None) -> dict[str, str | None]:
    return {
        "shipment_id": shipment,
        "event_timestamp": at,
        "event_type": kind,
        "location_id": location,
    }


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

        leftovers = [s for s in RedshiftOnPostgres.rendered if POSTGRES_ONLY.search(s)]
        assert leftovers == []
        assert any("DATEDIFF(microsecond," in s for s in RedshiftOnPostgres.rendered)
        assert any("INTERVAL DAY TO SECOND" in s for s in RedshiftOnPostgres.rendered)


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
    leftovers = [s for s in RedshiftOnPostgres.rendered if POSTGRES_ONLY.search(s)]
    assert leftovers == []


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
