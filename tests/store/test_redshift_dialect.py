"""The Redshift path: every statement of the pipeline rendered in Redshift's dialect.

No Redshift runs here, so the rendered statements run on PostgreSQL, which accepts
all of them but a few spellings of Redshift's built-ins: ``DATEDIFF(microsecond, a,
b)`` and ``GETDATE()`` are emulated by SQL functions of the same meaning, and
``VARCHAR(MAX)`` is read as ``VARCHAR``. The pipeline must then be as
exact as on any other engine, and no PostgreSQL-only construct may be left.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.store.redshift import RedshiftBackend
from tests.engines import fresh_database

pytestmark = [pytest.mark.postgres]

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


def event(shipment: str, at: str, kind: str, location: str | None = None) -> dict[str, str | None]:
    return {
        "shipment_id": shipment,
        "event_timestamp": at,
        "event_type": kind,
        "location_id": location,
    }


def test_the_whole_flow_in_redshift_sql_is_exact_and_free_of_postgres_only_sql() -> None:
    with fresh_database("postgres") as database:
        RedshiftOnPostgres.rendered = []
        backend = RedshiftOnPostgres(database)
        backend.execute("SELECT 1")  # connect and set up before the emulation
        backend._con.execute(DATEDIFF.encode())
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
