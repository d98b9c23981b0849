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
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from shipline.events.formats.epcis import FORMAT
from shipline.pipeline import Pipeline
from shipline.settings import Settings

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


def measure(data: bytes, events: int, repeats: int) -> tuple[float, float]:
    """Median events/s of the importer alone and of a whole ingest."""
    imports: list[float] = []
    ingests: list[float] = []
    for repeat in range(repeats):
        started = time.perf_counter()
        imported = FORMAT.read(data)
        imports.append(time.perf_counter() - started)
        assert len(imported.records) == events
        with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
            database = str(Path(folder) / "epcis.duckdb")
            with Pipeline(Settings(database=database)) as pipeline:
                started = time.perf_counter()
                result = pipeline.ingest_feed(data, None, f"bench-{repeat}")
                ingests.append(time.perf_counter() - started)
        assert (result.accepted, result.rejected) == (events, 0), result
    return events / statistics.median(imports), events / statistics.median(ingests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = build_document(args.events)
    importer, ingest = measure(data, args.events, args.repeats)
    print(f"EPCIS document: {args.events:,} events, {len(data) / 1e6:.1f} MB")
    print(f"{'stage':<30}{'events/s (median)':>20}")
    print(f"{'import (parse + map)':<30}{importer:>20,.0f}")
    print(f"{'ingest_feed into DuckDB':<30}{ingest:>20,.0f}")
    print(f"{'ingest vs import alone':<30}{ingest / importer:>20.0%}")


if __name__ == "__main__":
    main()
