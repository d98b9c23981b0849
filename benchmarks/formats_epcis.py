"""EPCIS import throughput: one EPCISDocument of many events, through content detection.

    python -m benchmarks.formats_epcis [--events 100000] [--repeats 3]

The document repeats GS1's shipping-and-receiving example: each case is shipped,
then received, with its own eventID, EPC and time. Per repeat, the bytes go into
``Pipeline.ingest_feed`` (format detected from the content) on a fresh DuckDB file;
the importer alone (parse and map, no database) is timed too. It prints the median
events/s of each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.formats import measure, print_figures

SAMPLE = Path(__file__).parent.parent / "tests" / "fixtures" / "epcis"
SAMPLE_FILE = SAMPLE / "epcis-object-shipping-receiving.jsonld"


def build_document(events: int) -> bytes:
    """An EPCISDocument of ``events`` events: the sample's two, varied per case."""
    sample = json.loads(SAMPLE_FILE.read_text())
    shipping, receiving = sample["epcisBody"]["eventList"]
    event_list: list[dict[str, Any]] = []
    for n in range(events):
        case, received = divmod(n, 2)
        event = dict(receiving if received else shipping)
        event["eventID"] = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        event["epcList"] = [f"urn:epc:id:sgtin:0614141.107346.{case}"]
        day, minute = divmod(case, 1440)
        event["eventTime"] = (
            f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{minute // 60:02d}:"
            f"{minute % 60:02d}:{31 if received else 1:02d}.116-06:00"
        )
        event_list.append(event)
    sample["epcisBody"]["eventList"] = event_list
    return json.dumps(sample).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = build_document(args.events)
    importer, ingest = measure("epcis", data, args.events, args.repeats)
    print_figures(f"EPCIS document: {args.events:,} events", data, importer, ingest)


if __name__ == "__main__":
    main()
