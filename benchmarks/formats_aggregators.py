"""Parcel tracker import throughput: EasyPost, AfterShip, Shippo, karrio, FedEx, UPS, DHL.

    python -m benchmarks.formats_aggregators [--events 100000] [--per-tracker 10]
                                             [--repeats 3] [--formats easypost,ups]

Per format, one document of ``--events`` checkpoints: the sample's tracker repeated
as ``events / per-tracker`` trackers, each with its own tracking number and its
checkpoints (the sample's, cycled) an hour apart. Per repeat, the bytes go into
``Pipeline.ingest_feed`` (format detected from the content) on a fresh DuckDB file,
with ``[sources.NAME] timezone`` set for the carriers' local times; the importer
alone (parse and map, no database) is timed too. It prints the median events/s of
each, per format.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.formats import measure

SAMPLES = Path(__file__).parent.parent / "tests" / "fixtures" / "aggregators"
START = datetime(2026, 1, 1, tzinfo=UTC)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def _times(tracker: int, per: int) -> list[datetime]:
    first = START + timedelta(minutes=tracker)
    return [first + timedelta(hours=k) for k in range(per)]


def _cycled(points: list[Any], per: int) -> list[Any]:
    return [copy.deepcopy(points[k % len(points)]) for k in range(per)]


def easypost(trackers: int, per: int) -> Any:
    base = sample("easypost-tracker-updated-event.json")["result"]
    found = []
    for t in range(trackers):
        tracker = dict(base, tracking_code=f"EZ{t:09d}", id=f"trk_{t}")
        details = _cycled(base["tracking_details"], per)
        for detail, at in zip(details, _times(t, per), strict=True):
            detail["datetime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(dict(tracker, tracking_details=details))
    return found


def aftership(trackers: int, per: int) -> Any:
    base = sample("aftership-tracking-fedex-intl.json")["data"]["tracking"]
    found = []
    for t in range(trackers):
        points = _cycled(base["checkpoints"], per)
        for point, at in zip(points, _times(t, per), strict=True):
            point["checkpoint_time"] = (at + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        found.append(dict(base, tracking_number=f"AS{t:09d}", id=f"as{t}", checkpoints=points))
    return {"meta": {"code": 200}, "data": {"trackings": found}}


def shippo(trackers: int, per: int) -> Any:
    base = sample("shippo-track-usps-create.json")
    moving = [e for e in base["tracking_history"] if e["status"] != "UNKNOWN"]
    found = []
    for t in range(trackers):
        history = _cycled(moving, per)
        for entry, at in zip(history, _times(t, per), strict=True):
            entry["status_date"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(dict(base, tracking_number=f"92{t:020d}", tracking_history=history))
    return found


def karrio(trackers: int, per: int) -> Any:
    statuses = ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    return [
        {
            "id": f"trk_{t}",
            "carrier_name": "canadapost",
            "tracking_number": f"KA{t:09d}",
            "events": [
                {
                    "date": at.strftime("%Y-%m-%d"),
                    "time": at.strftime("%H:%M"),
                    "status": statuses[k % len(statuses)],
                    "code": str(k),
                    "description": f"scan {k}",
                    "location": "OTTAWA, ON, CA",
                }
                for k, at in enumerate(_times(t, per))
            ],
        }
        for t in range(trackers)
    ]


def fedex(trackers: int, per: int) -> Any:
    answer = sample("karrio-fedex-tracking-response.json")
    [result] = answer["output"]["completeTrackResults"][0]["trackResults"]
    complete = []
    for t in range(trackers):
        scans = _cycled(result["scanEvents"], per)
        for k, (scan, at) in enumerate(zip(scans, _times(t, per), strict=True)):
            scan["date"] = (at - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S-07:00")
            scan["eventType"] = ("PU", "AR", "DP", "IT", "OD", "DL")[k % 6]
        info = dict(result["trackingNumberInfo"], trackingNumber=f"FX{t:010d}")
        one = dict(result, trackingNumberInfo=info, scanEvents=scans)
        complete.append({"trackingNumber": f"FX{t:010d}", "trackResults": [one]})
    return {"output": {"completeTrackResults": complete}}


def ups(trackers: int, per: int) -> Any:
    answer = sample("karrio-ups-tracking-response.json")
    package = answer["trackResponse"]["shipment"][0]["package"][0]
    shipments = []
    for t in range(trackers):
        activity = _cycled(package["activity"], per)
        for entry, at in zip(activity, _times(t, per), strict=True):
            entry["date"], entry["time"] = at.strftime("%Y%m%d"), at.strftime("%H%M%S")
        number = f"1Z{t:016d}"
        shipments.append(
            {"inquiryNumber": number, "package": [dict(package, trackingNumber=number,
                                                       activity=activity)]}
        )  # fmt: skip
    return {"trackResponse": {"shipment": shipments}}


def dhl(trackers: int, per: int) -> Any:
    base = sample("karrio-dhl-universal-tracking.json")["trackingResponse"]["shipments"][0]
    codes = ("pre-transit", "transit", "transit", "delivered")
    shipments = []
    for t in range(trackers):
        events = _cycled(base["events"], per)
        for k, (event, at) in enumerate(zip(events, _times(t, per), strict=True)):
            event["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S")
            event["statusCode"] = codes[k % len(codes)]
        shipments.append(dict(base, id=7_000_000_000 + t, events=events))
    return {"shipments": shipments}


BUILDERS: dict[str, Callable[[int, int], Any]] = {
    "easypost": easypost,
    "aftership": aftership,
    "shippo": shippo,
    "karrio": karrio,
    "fedex": fedex,
    "ups": ups,
    "dhl": dhl,
}
ZONES = {"karrio": "America/Toronto", "ups": "America/New_York", "dhl": "Europe/Amsterdam"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tracker", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default=",".join(BUILDERS))
    args = parser.parse_args()
    trackers = args.events // args.per_tracker
    events = trackers * args.per_tracker
    print(f"{events:,} checkpoints per document, {args.per_tracker} per tracker")
    print(f"{'format':<12}{'MB':>8}{'import events/s':>20}{'ingest_feed events/s':>24}")
    for name in args.formats.split(","):
        data = json.dumps(BUILDERS[name](trackers, args.per_tracker)).encode()
        sources = {name: {"timezone": ZONES[name]}} if name in ZONES else {}
        importer, ingest = measure(name, data, events, args.repeats, sources=sources)
        print(f"{name:<12}{len(data) / 1e6:>8.1f}{importer:>20,.0f}{ingest:>24,.0f}")


if __name__ == "__main__":
    main()
