"""``structured`` generation: what a delivery prediction can learn beyond the defaults."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime

import pyarrow.compute as pc

from shipline.generate import ShipmentDataset, generate_dataset

START = datetime(2024, 3, 1, tzinfo=UTC)


def transit_hours_by_carrier(data: ShipmentDataset) -> dict[str, float]:
    """The median hours from creation to delivery of each carrier's standard shipments."""
    events = data.events.filter(pc.is_valid(data.events["event_timestamp"])).to_pylist()
    standard = {
        row["shipment_id"]
        for row in data.packages.to_pylist()
        if row["service_level"] == "standard"
    }
    created: dict[str, datetime] = {}
    delivered: dict[str, datetime] = {}
    carrier: dict[str, str] = {}
    for row in events:
        if row["event_type"] == "created":
            created[row["shipment_id"]] = row["event_timestamp"]
        elif row["event_type"] == "delivered":
            delivered[row["shipment_id"]] = row["event_timestamp"]
        carrier[row["shipment_id"]] = row["carrier"]
    hours = defaultdict(list)
    for shipment, at in delivered.items():
        if shipment in created and shipment in standard:
            hours[carrier[shipment]].append((at - created[shipment]).total_seconds() / 3600)
    return {name: statistics.median(values) for name, values in hours.items() if len(values) > 30}


def test_the_defaults_are_unchanged_by_the_option() -> None:
    plain = generate_dataset(3000, seed=3, start=START)
    assert plain.events.equals(generate_dataset(3000, seed=3, start=START, structured=False).events)


def test_structured_carriers_differ_in_pace() -> None:
    structured = transit_hours_by_carrier(
        generate_dataset(40_000, seed=3, start=START, structured=True)
    )
    plain = transit_hours_by_carrier(generate_dataset(40_000, seed=3, start=START))
    # Aramex's pace is 1.4, DHL Express's 0.75: far apart when structured, close if not.
    assert structured["Aramex"] > 1.4 * structured["DHL Express"]
    assert plain["Aramex"] < 1.2 * plain["DHL Express"]


def test_structured_shipments_are_not_delivered_on_sundays() -> None:
    data = generate_dataset(20_000, seed=3, start=START, structured=True)
    delivered = data.events.filter(pc.equal(data.events["event_type"], "delivered"))
    weekdays = {at.weekday() for at in delivered["event_timestamp"].to_pylist() if at}
    assert 6 not in weekdays and len(weekdays) == 6
