"""GET /v1/shipments and GET /v1/kpis through the real server.

Thirty shipments Q-00..Q-29, the i-th picked up i minutes after T0 at HUB(i mod 3)
by UPS (even i) or DHL (odd i); every fifth is delivered an hour later at the same
hub. Lanes: A>B for i < 15, C>D after. Promised: ten days from now for i < 10 (not
late), T0 + 30 minutes for the rest (late: none was delivered by then).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.timeline.shipments import ShipmentFilter, listing_query
from tests.api.conftest import Running
from tests.conftest import Shipline

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
IDS = [f"Q-{i:02d}" for i in range(30)]


def picked_up_at(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def last_event_at(i: int) -> datetime:
    return picked_up_at(i) + timedelta(hours=1 if i % 5 == 0 else 0)


def records() -> list[dict[str, Any]]:
    found = []
    for i, shipment_id in enumerate(IDS):
        common = {"shipment_id": shipment_id, "location_id": f"HUB{i % 3}"}
        common["carrier"] = "UPS" if i % 2 == 0 else "DHL"
        found.append(
            {**common, "event_type": "picked_up", "event_timestamp": picked_up_at(i).isoformat()}
        )
        if i % 5 == 0:
            found.append(
                {
                    **common,
                    "event_type": "delivered",
                    "event_timestamp": last_event_at(i).isoformat(),
                }
            )
    return found


def packages_table() -> pa.Table:
    far = datetime.now(UTC) + timedelta(days=10)
    return pa.table(
        {
            "shipment_id": IDS,
            "promised_delivery_at": pa.array(
                [far if i < 10 else T0 + timedelta(minutes=30) for i in range(30)],
                pa.timestamp("us", "UTC"),
            ),
            "origin_location_id": ["A" if i < 15 else "C" for i in range(30)],
            "destination_location_id": ["B" if i < 15 else "D" for i in range(30)],
        }
    )


@pytest.fixture(scope="module")
def world(server: Running, tmp_path_factory: pytest.TempPathFactory) -> Running:
    folder = tmp_path_factory.mktemp("packages")
    packages = packages_table()
    pq.write_table(packages, folder / "packages.parquet")
    server.pipeline.load_reference("packages", folder / "packages.parquet")
    with server.client("ingest") as client:
        assert client.post("/v1/events", json=records()).json()["accepted"] == 36
    server.pipeline.incremental()
    return server


def listed(world: Running, **query: Any) -> list[str]:
    """Every shipment the query lists, following next_cursor page by page."""
    found: list[str] = []
    cursor = None
    with world.client("read") as client:
        while True:
            params = {**query, **({"cursor": cursor} if cursor else {})}
            response = client.get("/v1/shipments", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            found += [row["shipment_id"] for row in body["shipments"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return found


def newest_first(indexes: list[int]) -> list[str]:
    return [IDS[i] for i in sorted(indexes, key=lambda i: (last_event_at(i), IDS[i]), reverse=True)]


def test_pages_list_every_shipment_once_newest_activity_first(world: Running) -> None:
    assert listed(world, limit=7) == newest_first(list(range(30)))
    assert listed(world, limit=1000) == newest_first(list(range(30)))


def test_each_filter_keeps_the_shipments_it_names(world: Running) -> None:
    every = range(30)
    assert listed(world, status="delivered", limit=2) == newest_first(
        [i for i in every if i % 5 == 0]
    )
    assert listed(world, carrier="UPS", limit=4) == newest_first([i for i in every if i % 2 == 0])
    assert listed(world, lane="A>B") == newest_first([i for i in every if i < 15])
    assert listed(world, location="HUB1") == newest_first([i for i in every if i % 3 == 1])
    since, until = T0 + timedelta(minutes=3), T0 + timedelta(minutes=8)
    assert listed(world, since=since.isoformat(), until=until.isoformat()) == newest_first(
        [i for i in every if since <= last_event_at(i) < until]
    )
    assert listed(world, late="true", limit=3) == newest_first([i for i in every if i >= 10])
    assert listed(world, late="false") == newest_first([i for i in every if i < 10])
    assert listed(world, carrier="DHL", lane="C>D", late="true") == newest_first(
        [i for i in every if i % 2 == 1 and i >= 15]
    )


def test_no_shipment_is_stuck_without_enough_history(world: Running) -> None:
    assert listed(world, stuck="true") == []
    assert len(listed(world, stuck="false")) == 30


def test_limit_is_capped_and_bad_input_is_a_clear_400(world: Running) -> None:
    with world.client("read") as client:
        assert client.get("/v1/shipments", params={"limit": 5000}).json()["limit"] == 1000
        for params, says in (
            ({"cursor": "not-a-cursor"}, "pass its next_cursor unchanged"),
            ({"lane": "A-B"}, "ORIGIN>DESTINATION"),
            ({"since": "2026-11-20T08:00:00"}, "has no offset"),
        ):
            response = client.get("/v1/shipments", params=params)
            assert response.status_code == 400, params
            assert says in response.json()["error"]["message"]
        assert client.get("/v1/shipments", params={"limit": 0}).status_code == 422
    with world.client(None) as anonymous:
        assert anonymous.get("/v1/shipments").status_code == 401
        assert anonymous.get("/v1/kpis").status_code == 401


def test_kpis_per_carrier_over_http(world: Running) -> None:
    with world.client("read") as client:
        response = client.get("/v1/kpis", params={"by": "carrier"})
        assert response.status_code == 200
        groups = {group["group"]: group for group in response.json()["groups"]}
        assert client.get("/v1/kpis", params={"by": "region"}).status_code == 422
    assert groups["UPS"]["shipments"] == 15 and groups["DHL"]["shipments"] == 15
    assert groups["UPS"]["delivered"] == 3
    assert groups["UPS"]["on_time_rate"] == pytest.approx(1 / 3)  # only Q-00 was promised later
    assert groups["DHL"]["first_attempt_rate"] == 1.0
    assert groups["UPS"]["transit_hours_p50"] == "1.000000"


@pytest.mark.parametrize("status", [None, "in_transit"])
def test_a_page_is_an_index_scan_on_postgres(world: Running, status: str | None) -> None:
    if world.pipeline.dialect != "postgres":
        pytest.skip("DuckDB prunes by zone maps; it has no such index")
    cursor_page = world.pipeline.list_shipments(ShipmentFilter(status=status), limit=3)
    query, params = listing_query(
        world.pipeline.backend,
        ShipmentFilter(status=status),
        datetime.now(UTC),
        101,
        cursor_page.next_cursor,
    )
    (rendered,) = world.pipeline.backend.render(query)
    database = world.pipeline.settings.database
    with psycopg.connect(database, autocommit=True) as connection:
        # The test table is small, where a scan (or a bitmap and a sort) is cheapest;
        # without those the plan shows whether the index alone answers the page.
        connection.execute(b"SET enable_seqscan = off")
        connection.execute(b"SET enable_bitmapscan = off")
        plan = "\n".join(
            str(row[0]) for row in connection.execute(f"EXPLAIN {rendered}".encode(), params)
        )
    index = "shipment_state_status_recent" if status else "shipment_state_recent"
    assert f"Index Scan using {index} on shipment_state" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the page's order
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize("filters", [ShipmentFilter(late=True), ShipmentFilter(stuck=True)])
def test_late_and_stuck_pages_read_no_timeline_row_on_postgres(
    world: Running, filters: ShipmentFilter
) -> None:
    if world.pipeline.dialect != "postgres":
        pytest.skip("the plan of PostgreSQL")
    world.pipeline.base()  # the nightly run, which learns the usual gaps
    query, params = listing_query(world.pipeline.backend, filters, datetime.now(UTC), 101)
    (rendered,) = world.pipeline.backend.render(query)
    with psycopg.connect(world.pipeline.settings.database, autocommit=True) as connection:
        connection.execute(b"SET enable_seqscan = off")
        plan = "\n".join(
            str(row[0]) for row in connection.execute(f"EXPLAIN {rendered}".encode(), params)
        )
    # A late page reads each shipment's first delivery from its state row; a stuck one
    # judges state rows by the learned gaps. Neither reads the history.
    assert "Index Scan using shipment_state_recent on shipment_state" in plan, plan
    assert "shipment_timeline" not in plan, plan


def test_a_stuck_limit_below_one_is_a_usage_error(shipline: Shipline) -> None:
    done = shipline("stuck", "--limit", "0")
    assert done.returncode == 64, done.stderr
    assert "Invalid value for '--limit'" in done.stderr and "Traceback" not in done.stderr


def test_shipments_list_on_the_command_line(shipline: Shipline, tmp_path: Path) -> None:
    (tmp_path / "events.ndjson").write_text("\n".join(json.dumps(r) for r in records()))
    pq.write_table(packages_table(), tmp_path / "packages.parquet")
    assert shipline("reference", "load", "packages", "packages.parquet").returncode == 0
    assert shipline("ingest", "events.ndjson").returncode == 0
    assert shipline("incremental").returncode == 0
    first = shipline("shipments", "list", "--late", "--carrier", "UPS", "--limit", "2", "--json")
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    late_ups = newest_first([i for i in range(30) if i % 2 == 0 and i >= 10])
    assert [row["shipment_id"] for row in page["shipments"]] == late_ups[:2]
    more = ("--late", "--carrier", "UPS", "--cursor", page["next_cursor"], "--json")
    rest = [
        row["shipment_id"]
        for row in json.loads(shipline("shipments", "list", *more).stdout)["shipments"]
    ]
    assert rest == late_ups[2:]
    kpis = shipline("kpis", "--by", "lane", "--json")
    assert {group["group"] for group in json.loads(kpis.stdout)["groups"]} == {"A>B", "C>D"}
    stuck = shipline("stuck")
    assert stuck.returncode == 0 and "no shipment is stuck" in stuck.stdout
    refused = shipline("shipments", "list", "--since", "2026-11-20")
    assert refused.returncode != 0 and "no UTC offset" in refused.stderr
