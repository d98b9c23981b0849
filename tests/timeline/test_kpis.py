"""KPIs per carrier, lane and location: a known small world gives the figures a person
would work out, and on generated data every figure equals the same one computed in
plain Python over the views."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipline.errors import ValidationError
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.timeline.kpis import Kpi

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def shipment(shipment_id: str, carrier: str, steps: list[tuple[float, str, str]]) -> list[Any]:
    """Events of one shipment: (hours after T0, event type, location)."""
    return [
        {
            "shipment_id": shipment_id,
            "event_timestamp": at(hours),
            "event_type": kind,
            "location_id": location,
            "carrier": carrier,
        }
        for hours, kind, location in steps
    ]


def load_packages(
    pipeline: Pipeline, folder: Path, rows: list[tuple[str, float, str, str]]
) -> None:
    """Packages: (shipment, promised hours after T0, origin, destination)."""
    table = pa.table(
        {
            "shipment_id": [row[0] for row in rows],
            "promised_delivery_at": pa.array(
                [T0 + timedelta(hours=row[1]) for row in rows], pa.timestamp("us", "UTC")
            ),
            "origin_location_id": [row[2] for row in rows],
            "destination_location_id": [row[3] for row in rows],
        }
    )
    pq.write_table(table, folder / "packages.parquet")
    pipeline.load_reference("packages", folder / "packages.parquet")


@pytest.fixture
def small_world(pipeline: Pipeline, tmp_path: Path) -> Pipeline:
    """Three shipments, two carriers, two lanes:

    - A (UPS, HUB1>HUB2): picked up at 0 h, delivered at 10 h, promised 12 h.
    - B (UPS, HUB1>HUB2): picked up at 0 h, attempt at 20 h, delivered at 30 h, promised 24 h.
    - C (DHL, HUB1>HUB3): picked up at 0 h, exception at 2 h, still out.
    """
    events = [
        *shipment(
            "A",
            "UPS",
            [
                (0, "picked_up", "HUB1"),
                (4, "arrived_at_facility", "HUB2"),
                (10, "delivered", "HUB2"),
            ],
        ),
        *shipment(
            "B",
            "UPS",
            [
                (0, "picked_up", "HUB1"),
                (20, "delivery_attempted", "HUB2"),
                (30, "delivered", "HUB2"),
            ],
        ),
        *shipment("C", "DHL", [(0, "picked_up", "HUB1"), (2, "exception", "HUB1")]),
    ]
    pipeline.ingest_records(events, "test")
    load_packages(
        pipeline,
        tmp_path,
        [("A", 12, "HUB1", "HUB2"), ("B", 24, "HUB1", "HUB2"), ("C", 48, "HUB1", "HUB3")],
    )
    pipeline.incremental()
    return pipeline


def test_the_kpis_of_a_small_world_are_what_a_person_works_out(small_world: Pipeline) -> None:
    (overall,) = small_world.kpis().groups
    assert overall == Kpi(
        group="all",
        shipments=3,
        delivered=2,
        on_time_rate=0.5,  # A on time, B late
        transit_hours_p50=Decimal("10.000000"),  # transits 10 h and 30 h: the lower
        transit_hours_p90=Decimal("30.000000"),
        exception_rate=2 / 3,  # B's attempt and C's exception
        # dwell: A 4 h at HUB1 and 6 h at HUB2; B 20 h at HUB1, 10 h at HUB2; C 2 h at HUB1
        dwell_hours_p50=Decimal("6.000000"),
        dwell_hours_p90=Decimal("20.000000"),
        first_attempt_rate=0.5,  # B needed a second attempt
    )


def test_kpis_by_carrier_lane_and_location(small_world: Pipeline) -> None:
    by_carrier = {kpi.group: kpi for kpi in small_world.kpis("carrier").groups}
    assert [kpi.group for kpi in small_world.kpis("carrier").groups] == ["UPS", "DHL"]
    assert by_carrier["UPS"].on_time_rate == 0.5 and by_carrier["UPS"].delivered == 2
    assert by_carrier["DHL"].delivered == 0 and by_carrier["DHL"].on_time_rate is None
    assert by_carrier["DHL"].transit_hours_p50 is None
    assert by_carrier["DHL"].exception_rate == 1.0
    by_lane = {kpi.group: kpi.shipments for kpi in small_world.kpis("lane").groups}
    assert by_lane == {"HUB1>HUB2": 2, "HUB1>HUB3": 1}
    by_location = {kpi.group: kpi for kpi in small_world.kpis("location").groups}
    assert by_location["HUB1"].shipments == 3  # every shipment spent time there
    assert by_location["HUB2"].shipments == 2
    assert by_location["HUB2"].dwell_hours_p90 == Decimal("10.000000")  # 6 h and 10 h


def test_since_keeps_the_shipments_that_started_then_or_later(small_world: Pipeline) -> None:
    assert small_world.kpis(since=T0).groups[0].shipments == 3
    assert small_world.kpis(since=T0 + timedelta(seconds=1)).groups == []


def test_an_unknown_grouping_says_which_there_are(small_world: Pipeline) -> None:
    with pytest.raises(ValidationError, match="carrier, lane, location"):
        small_world.kpis("region")  # type: ignore[arg-type]


# Exactness against the views ------------------------------------------------


def percentile_disc(values: list[Any], share: str) -> Any:
    """The first value whose cumulative share reaches ``share`` (SQL's percentile_disc)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(Decimal(share) * len(ordered)), 1) - 1]


def expected_kpis(pipeline: Pipeline, by: str | None) -> dict[Any, dict[str, Any]]:
    """Every figure, from plain SELECTs of the views and Python."""
    backend = pipeline.backend
    summary = backend.fetch_dicts("SELECT * FROM shipment_summary")
    timeline = backend.fetch_dicts(
        "SELECT shipment_id, event_type, event_sequence, carrier, next_event_timestamp"
        " FROM shipment_timeline_realtime"
    )
    dwell = backend.fetch_dicts(
        "SELECT shipment_id, location_id, dwell_hours FROM shipment_location_dwell"
    )
    packages = {row["shipment_id"]: row for row in backend.fetch_dicts("SELECT * FROM packages")}
    carrier: dict[str, Any] = {}
    delivered_at_seq: dict[str, int] = {}
    attempted_at_seq: dict[str, int] = {}
    for row in timeline:
        sid = row["shipment_id"]
        if row["next_event_timestamp"] is None:
            carrier[sid] = row["carrier"]
        for kind, seen in (
            ("delivered", delivered_at_seq),
            ("delivery_attempted", attempted_at_seq),
        ):
            if row["event_type"] == kind:
                seen[sid] = min(seen.get(sid, row["event_sequence"]), row["event_sequence"])
    dwell_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in dwell:
        dwell_of[row["shipment_id"]].append(row)

    def keys(sid: str) -> list[Any]:
        if by is None:
            return ["all"]
        if by == "carrier":
            return [carrier[sid]]
        if by == "lane":
            package = packages.get(sid)
            return [
                f"{package['origin_location_id']}>{package['destination_location_id']}"
                if package
                else None
            ]
        return sorted({row["location_id"] for row in dwell_of[sid]})

    groups: dict[Any, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    for row in summary:
        sid = row["shipment_id"]
        for key in keys(sid):
            group = groups[key]
            group["shipments"].append(sid)
            if row["delivered_at"] is not None:
                start = row["picked_up_at"] or row["first_event_timestamp"]
                micros = (row["delivered_at"] - start) // timedelta(microseconds=1)
                group["transit"].append(Decimal((micros + 1800) // 3600) / 1_000_000)
                group["delivered"].append(sid)
                attempted = attempted_at_seq.get(sid)
                if attempted is None or attempted > delivered_at_seq[sid]:
                    group["first_attempt"].append(sid)
            if row["on_time"] is not None:
                group["promised"].append(row["on_time"])
            if row["exception_count"] > 0:
                group["exceptions"].append(sid)
            group["dwell"] += [
                d["dwell_hours"]
                for d in dwell_of[sid]
                if by != "location" or d["location_id"] == key
            ]
    return {
        key: {
            "shipments": len(g["shipments"]),
            "delivered": len(g["delivered"]),
            "on_time_rate": sum(g["promised"]) / len(g["promised"]) if g["promised"] else None,
            "transit_hours_p50": percentile_disc(g["transit"], "0.5"),
            "transit_hours_p90": percentile_disc(g["transit"], "0.9"),
            "exception_rate": len(g["exceptions"]) / len(g["shipments"]),
            "dwell_hours_p50": percentile_disc(g["dwell"], "0.5"),
            "dwell_hours_p90": percentile_disc(g["dwell"], "0.9"),
            "first_attempt_rate": len(g["first_attempt"]) / len(g["delivered"])
            if g["delivered"]
            else None,
        }
        for key, g in groups.items()
    }


@pytest.mark.parametrize("by", [None, "carrier", "lane", "location"])
def test_every_figure_equals_the_same_figure_computed_over_the_views(
    pipeline: Pipeline, tmp_path: Path, by: str | None
) -> None:
    data = generate_dataset(3000, seed=11, late_fraction=0.05, bad_fraction=0.0)
    for name in ("locations", "packages"):
        pq.write_table(getattr(data, name), tmp_path / f"{name}.parquet")
        pipeline.load_reference(name, tmp_path / f"{name}.parquet")
    pipeline.ingest_table(data.events, "generated")
    pipeline.incremental()
    found = {
        kpi.group: {name: value for name, value in kpi.__dict__.items() if name != "group"}
        for kpi in pipeline.kpis(by).groups  # type: ignore[arg-type]
    }
    expected = expected_kpis(pipeline, by)
    assert len(found) > (1 if by else 0)
    assert found == expected


def test_a_report_is_read_again_only_once_the_view_or_a_reference_table_changes(
    small_world: Pipeline, tmp_path: Path
) -> None:
    first = small_world.kpis()
    again = small_world.kpis()
    assert (first.cached, again.cached) == (False, True)
    assert again.groups == first.groups

    # A new delivery, once a run puts it in the view, is in the next report.
    small_world.ingest_records(shipment("C", "DHL", [(40, "delivered", "HUB3")]), "test")
    assert small_world.kpis().cached  # not yet in the view: the view has not changed
    small_world.incremental()
    after_run = small_world.kpis()
    assert not after_run.cached
    assert after_run.groups[0].delivered == 3

    # A later promise makes B on time; the reference load alone changes the report.
    load_packages(
        small_world,
        tmp_path,
        [("A", 12, "HUB1", "HUB2"), ("B", 36, "HUB1", "HUB2"), ("C", 48, "HUB1", "HUB3")],
    )
    reloaded = small_world.kpis()
    assert not reloaded.cached
    assert reloaded.groups[0].on_time_rate == 1.0


def test_another_process_sees_a_change_made_beside_it(small_world: Pipeline, engine: str) -> None:
    if engine == "duckdb":
        pytest.skip("a DuckDB file has one writer process; the CLI goes through its server")
    with Pipeline(Settings(database=small_world.settings.database)) as other:
        before = other.kpis()
        small_world.ingest_records(shipment("C", "DHL", [(40, "delivered", "HUB3")]), "test")
        small_world.incremental()
        assert other.kpis().groups[0].delivered == before.groups[0].delivered + 1
