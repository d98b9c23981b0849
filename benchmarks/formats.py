"""Import throughput of an industry format, and DCSA's own document.

    python -m benchmarks.formats [--events 100000] [--repeats 3]     # DCSA 3.0

``measure`` is what every ``benchmarks.formats_*`` module times: per repeat, the
importer alone (parse and map, no database), then ``Pipeline.ingest_feed`` of the
same bytes (format recognised from the content) into a fresh DuckDB file. Run
here, it times a DCSA Track & Trace 3.0 page of transport departures, each with
its own event id, bill of lading and time.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from shipline.events.formats import FORMATS
from shipline.pipeline import Pipeline
from shipline.settings import Settings

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"


def measure(
    name: str, data: bytes, events: int, repeats: int, **settings: Any
) -> tuple[float, float]:
    """Median events/s of format ``name``'s importer alone and of a whole ingest
    (``settings`` for the store, such as a source's zone for local times)."""
    imports: list[float] = []
    ingests: list[float] = []
    for repeat in range(repeats):
        started = time.perf_counter()
        imported = FORMATS[name].read(data)
        imports.append(time.perf_counter() - started)
        assert len(imported.records) == events, (name, len(imported.records))
        with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
            database = str(Path(folder) / f"{name}.duckdb")
            with Pipeline(Settings(database=database, **settings)) as pipeline:
                started = time.perf_counter()
                result = pipeline.ingest_feed(data, None, f"bench-{repeat}")
                ingests.append(time.perf_counter() - started)
        assert (result.accepted, result.rejected) == (events, 0), (name, result.errors[:1])
    return events / statistics.median(imports), events / statistics.median(ingests)


def print_figures(title: str, data: bytes, importer: float, ingest: float) -> None:
    print(f"{title}, {len(data) / 1e6:.1f} MB")
    print(f"{'stage':<30}{'events/s (median)':>20}")
    print(f"{'import (parse + map)':<30}{importer:>20,.0f}")
    print(f"{'ingest_feed into DuckDB':<30}{ingest:>20,.0f}")
    print(f"{'ingest vs import alone':<30}{ingest / importer:>20.0%}")


def dcsa_page(events: int) -> bytes:
    """A DCSA 3.0 ``GET /events`` page of ``events`` departures, four per shipment."""
    page = json.loads((FIXTURES / "dcsa" / "dcsa-tnt300-response.json").read_text())
    [departure] = [
        e for e in page["events"] if e["eventClassification"]["eventTypeCode"] == "TRANSPORT"
    ]
    listed = []
    for n in range(events):
        event = copy.deepcopy(departure)
        event["eventID"] = f"evt-{n}"
        details = event["shipmentDetails"]
        details["documentReference"]["reference"] = f"BKG{n // 4}"
        details["additionalDocumentReferences"][0]["reference"] = f"TRD{n // 4}"
        event["eventDateTime"] = (
            f"2026-{1 + n // 672 % 12:02d}-{1 + n // 24 % 28:02d}T{n % 24:02d}:00:00Z"
        )
        listed.append(event)
    return json.dumps({"events": listed}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = dcsa_page(args.events)
    importer, ingest = measure("dcsa", data, args.events, args.repeats)
    print_figures(f"DCSA 3.0 page: {args.events:,} events", data, importer, ingest)


if __name__ == "__main__":
    main()
