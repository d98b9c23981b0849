"""Behaviour of the synthetic shipment generator."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipline.events.vocabulary import DEFAULT_STATUS, EVENT_TYPES, STATUSES
from shipline.generate import EVENT_SCHEMA, ShipmentDataset, generate_dataset, write_dataset

START = datetime(2024, 3, 1, tzinfo=UTC)
# DESIGN 2: 1 to 128 characters, no control character, no space around the id.
ILLEGAL_ID = re.compile(r"[\x00-\x1f\x7f-\x9f]|^\s|\s$")
Row = dict[str, Any]


def bad_kind(row: Row) -> str | None:
    """Which contract rule a row breaks, or None for a well-formed row."""
    sid = row["shipment_id"]
    if sid is None:
        return "null_shipment"
    if sid == "":
        return "empty_shipment"
    if len(sid) > 128:
        return "long_shipment"
    if ILLEGAL_ID.search(sid):
        return "illegal_shipment"
    if row["event_type"] not in EVENT_TYPES:
        return "unknown_type"
    if row["status"] is not None and row["status"] not in STATUSES:
        return "bad_status"
    if row["event_timestamp"] is None:
        return "null_timestamp"
    return None


def good_rows(dataset: ShipmentDataset) -> list[Row]:
    """Well-formed rows, duplicates dropped, in arrival order."""
    seen: set[tuple[Any, ...]] = set()
    rows = []
    for row in dataset.events.to_pylist():
        key = tuple(row.values())
        if bad_kind(row) is None and key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def by_shipment(rows: list[Row]) -> dict[str, list[Row]]:
    """Each shipment's rows sorted by event time."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row["shipment_id"]].append(row)
    return {k: sorted(v, key=lambda r: r["event_timestamp"]) for k, v in grouped.items()}


@pytest.fixture(scope="module")
def dataset() -> ShipmentDataset:
    return generate_dataset(2000, seed=7, start=START)


@pytest.fixture(scope="module")
def noisy() -> ShipmentDataset:
    return generate_dataset(
        4000, seed=11, start=START, late_fraction=0.1, duplicate_fraction=0.05, bad_fraction=0.05
    )


@pytest.mark.parametrize(("events", "days"), [(50, 14), (500, 14), (2000, 1), (20_000, 3)])
def test_size_is_within_five_percent(events: int, days: int) -> None:
    rows = generate_dataset(events, seed=1, start=START, days=days).events.num_rows
    assert abs(rows - events) <= 0.05 * events


def test_shipments_average_seven_to_nine_events(dataset: ShipmentDataset) -> None:
    assert 7 <= dataset.events.num_rows / dataset.packages.num_rows <= 9


def test_same_seed_gives_identical_tables(dataset: ShipmentDataset) -> None:
    again = generate_dataset(2000, seed=7, start=START)
    assert again.events.equals(dataset.events)
    assert again.packages.equals(dataset.packages)
    assert again.locations.equals(dataset.locations)
    assert not generate_dataset(2000, seed=8, start=START).events.equals(dataset.events)


def test_events_follow_the_schema(dataset: ShipmentDataset) -> None:
    assert dataset.events.schema.equals(EVENT_SCHEMA)


def test_timestamps_strictly_increase_within_a_shipment(noisy: ShipmentDataset) -> None:
    for events in by_shipment(good_rows(noisy)).values():
        times = [r["event_timestamp"] for r in events]
        assert all(a < b for a, b in itertools.pairwise(times))
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(60 <= g <= 3 * 86400 for g in gaps)


def test_lifecycles_start_created_and_end_terminal(dataset: ShipmentDataset) -> None:
    for events in by_shipment(good_rows(dataset)).values():
        types = [r["event_type"] for r in events]
        if "created" in types:
            assert types[0] == "created"
        for terminal in ("delivered", "returned_to_sender", "cancelled"):
            if terminal in types:
                assert types[-1] == terminal


def out_of_order(rows: list[Row]) -> int:
    """Events that arrived after a later event of their shipment had arrived."""
    latest: dict[str, datetime] = {}
    count = 0
    for row in rows:
        sid, ts = row["shipment_id"], row["event_timestamp"]
        if sid in latest and latest[sid] > ts:
            count += 1
        latest[sid] = max(ts, latest.get(sid, ts))
    return count


def test_late_events_arrive_after_later_events_of_their_shipment(noisy: ShipmentDataset) -> None:
    rows = good_rows(noisy)
    assert 0.07 * len(rows) <= out_of_order(rows) <= 0.13 * len(rows)


def test_without_late_fraction_events_arrive_in_time_order() -> None:
    on_time = generate_dataset(2000, seed=3, start=START, late_fraction=0.0)
    assert out_of_order(good_rows(on_time)) == 0


def test_duplicates_are_identical_rows(noisy: ShipmentDataset) -> None:
    rows = noisy.events.to_pylist()
    copies = Counter(tuple(r.values()) for r in rows)
    extra = sum(c - 1 for c in copies.values())
    assert extra == round(0.05 * (len(rows) - extra))
    # An event id is never reused for different content.
    content_by_id: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for row in rows:
        if row["event_id"] is not None:
            content_by_id[row["event_id"]].add(tuple(row.values()))
    assert all(len(c) == 1 for c in content_by_id.values())


def test_bad_rows_match_the_fraction_and_cover_every_kind(noisy: ShipmentDataset) -> None:
    kinds = Counter(bad_kind(r) for r in noisy.events.to_pylist())
    bad = noisy.events.num_rows - kinds.pop(None)
    assert bad == pytest.approx(0.05 * noisy.events.num_rows, rel=0.1)
    assert set(kinds) == {
        "null_shipment",
        "empty_shipment",
        "long_shipment",
        "illegal_shipment",
        "unknown_type",
        "bad_status",
        "null_timestamp",
    }


def test_default_bad_fraction_is_small(dataset: ShipmentDataset) -> None:
    bad = sum(bad_kind(r) is not None for r in dataset.events.to_pylist())
    assert bad == round(0.001 * 2000)


def test_good_rows_use_the_vocabulary(dataset: ShipmentDataset) -> None:
    rows = good_rows(dataset)
    for row in rows:
        assert row["event_type"] in EVENT_TYPES
        assert row["status"] in (None, DEFAULT_STATUS[row["event_type"]])
        assert row["carrier"]
    assert 0.15 <= sum(r["status"] is None for r in rows) / len(rows) <= 0.25


def test_event_ids_are_unique_or_null(dataset: ShipmentDataset) -> None:
    ids = [r["event_id"] for r in good_rows(dataset)]
    present = [i for i in ids if i is not None]
    assert 0.25 <= 1 - len(present) / len(ids) <= 0.35
    assert len(set(present)) == len(present)
    assert all(re.fullmatch(r"evt-[0-9a-f]{16}", i) for i in present)


def test_event_data_is_a_json_object_or_null(dataset: ShipmentDataset) -> None:
    payloads = dataset.events.column("event_data").to_pylist()
    assert None in payloads
    assert all(p is None or isinstance(json.loads(p), dict) for p in payloads)


def test_locations_exist_and_look_real(dataset: ShipmentDataset) -> None:
    locations = dataset.locations.to_pylist()
    ids = {loc["location_id"] for loc in locations}
    assert len(ids) == len(locations) == 200
    assert all(re.fullmatch(r"LOC-\d{4}", i) for i in ids)
    assert {loc["facility_type"] for loc in locations} == {
        "hub",
        "depot",
        "customs",
        "pickup_point",
    }
    assert {"us-east", "us-west", "eu-central", "apac"} <= {loc["region"] for loc in locations}
    assert set(dataset.events.column("location_id").to_pylist()) <= ids
    assert set(dataset.packages.column("origin_location_id").to_pylist()) <= ids


def test_packages_have_one_row_per_shipment(dataset: ShipmentDataset) -> None:
    packages = dataset.packages.column("shipment_id").to_pylist()
    assert len(set(packages)) == len(packages)
    assert all(re.fullmatch(r"SHP-\d{9}", s) for s in packages)
    in_events = {r["shipment_id"] for r in good_rows(dataset)}
    assert in_events <= set(packages)
    assert len(packages) - len(in_events) <= 2  # shipments whose only event was made malformed


def test_events_happen_where_the_route_says() -> None:
    clean = generate_dataset(3000, seed=4, start=START, bad_fraction=0.0)
    packages = {p["shipment_id"]: p for p in clean.packages.to_pylist()}
    for sid, events in by_shipment(good_rows(clean)).items():
        package, here = packages[sid], packages[sid]["origin_location_id"]
        for row in events:
            if row["event_type"] == "created":
                assert row["location_id"] == package["origin_location_id"]
            elif row["event_type"] == "delivered":
                assert row["location_id"] == package["destination_location_id"]
            elif row["event_type"] == "departed_facility":
                assert row["location_id"] == here
            elif row["event_type"] == "arrived_at_facility":
                here = row["location_id"]


def test_promised_delivery_follows_service_level(dataset: ShipmentDataset) -> None:
    created = {
        r["shipment_id"]: r["event_timestamp"]
        for r in good_rows(dataset)
        if r["event_type"] == "created"
    }
    days = {"express": 1, "standard": 3, "economy": 5}
    for package in dataset.packages.to_pylist():
        if package["shipment_id"] in created:
            promise = created[package["shipment_id"]] + timedelta(
                days=days[package["service_level"]]
            )
            assert package["promised_delivery_at"] == promise


def test_lifecycles_cover_the_vocabulary() -> None:
    big = generate_dataset(30_000, seed=5, start=START)
    rows = good_rows(big)
    assert {r["event_type"] for r in rows} == EVENT_TYPES
    countries = {loc["location_id"]: loc["country"] for loc in big.locations.to_pylist()}
    packages = {p["shipment_id"]: p for p in big.packages.to_pylist()}
    held = {r["shipment_id"] for r in rows if r["event_type"] == "customs_hold"}
    for sid in held:
        package = packages[sid]
        origin, destination = package["origin_location_id"], package["destination_location_id"]
        assert countries[origin] != countries[destination]
    delivered = {r["shipment_id"] for r in rows if r["event_type"] == "delivered"}
    late = sum(
        max(r["event_timestamp"] for r in events) > packages[sid]["promised_delivery_at"]
        for sid, events in by_shipment(rows).items()
        if sid in delivered
    )
    assert 0.02 * len(delivered) <= late <= 0.3 * len(delivered)


def test_recent_shipments_are_in_progress_and_never_in_the_future() -> None:
    now = datetime.now(UTC)
    recent = generate_dataset(3000, seed=2, start=now - timedelta(days=2), days=3)
    rows = good_rows(recent)
    assert max(r["event_timestamp"] for r in rows) <= now + timedelta(hours=3)
    finished = {"delivered", "returned_to_sender", "cancelled"}
    shipments = by_shipment(rows)
    unfinished = [s for s, events in shipments.items() if events[-1]["event_type"] not in finished]
    assert len(unfinished) >= 0.1 * len(shipments)


def test_default_start_ends_the_window_today() -> None:
    rows = good_rows(generate_dataset(500, days=2))
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = [r["event_timestamp"] for r in rows]
    assert today - timedelta(days=2) <= min(times) and max(times) <= today


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": 0},
        {"events": 100, "days": 0},
        {"events": 100, "late_fraction": 1.5},
        {"events": 100, "bad_fraction": -0.1},
        {"events": 100, "locations": 2},
        {"events": 100, "start": datetime.now(UTC) + timedelta(days=1)},
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate_dataset(**kwargs)


def read_events(path: Path, file_format: str) -> list[Row]:
    """One written events file as rows; CSV is read as text, so nulls and "" stay distinct."""
    if file_format == "ndjson":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if file_format == "parquet":
        table = pq.read_table(path)
    else:
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in EVENT_SCHEMA.names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        table = pacsv.read_csv(path, convert_options=convert)
    rows: list[Row] = table.to_pylist()
    return rows


@pytest.mark.parametrize("file_format", ["parquet", "ndjson", "csv"])
def test_written_files_read_back(noisy: ShipmentDataset, tmp_path: Path, file_format: str) -> None:
    files = write_dataset(noisy, tmp_path, file_format=file_format, batches=3)  # type: ignore[arg-type]
    assert files.event_rows == noisy.events.num_rows
    assert files.shipments == noisy.packages.num_rows
    assert [p.name for p in files.events] == [f"events-000{i}.{file_format}" for i in (1, 2, 3)]
    assert pq.read_table(files.locations).equals(noisy.locations)
    assert pq.read_table(files.packages).equals(noisy.packages)
    rows = [row for path in files.events for row in read_events(path, file_format)]
    expected = noisy.events.to_pylist()
    assert [r["shipment_id"] for r in rows] == [r["shipment_id"] for r in expected]
    assert [r["event_id"] for r in rows] == [r["event_id"] for r in expected]
    for got, want in zip(rows, expected, strict=True):
        stamp = got["event_timestamp"]
        if file_format != "parquet" and stamp is not None:
            assert stamp.endswith("Z")
            stamp = datetime.fromisoformat(stamp)
        assert stamp == want["event_timestamp"]
        data = got["event_data"]
        if file_format == "ndjson" and data is not None:
            data = json.dumps(data, ensure_ascii=False)
        assert (data is None) == (want["event_data"] is None)
        assert data is None or json.loads(data) == json.loads(want["event_data"])


@pytest.mark.parametrize("batches", [1, 4, 7])
def test_batches_split_consecutively_and_keep_the_total(
    dataset: ShipmentDataset, tmp_path: Path, batches: int
) -> None:
    files = write_dataset(dataset, tmp_path, batches=batches)
    parts = [pq.read_table(p) for p in files.events]
    assert len(parts) == batches
    assert max(p.num_rows for p in parts) - min(p.num_rows for p in parts) <= 1
    assert pa.concat_tables(parts).equals(dataset.events)


def test_write_rejects_bad_arguments(dataset: ShipmentDataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_dataset(dataset, tmp_path, batches=0)
    with pytest.raises(ValueError):
        write_dataset(dataset, tmp_path, file_format="xml")  # type: ignore[arg-type]
