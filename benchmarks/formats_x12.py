"""X12 214 import throughput: one interchange of many status messages, through content
detection.

    python -m benchmarks.formats_x12 [--events 100000] [--repeats 3]

The interchange repeats Canada Post's 19 status messages (tests/fixtures/x12), each
copy with its own shipment ids and day, so every AT7 is a new event. Per repeat, the
bytes go into ``Pipeline.ingest_feed`` (format detected from the content) on a fresh
DuckDB file; the importer alone (tokenize and map, no database) is timed too. It
prints the median events/s of each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from shipline.events.formats.x12 import FORMAT
from shipline.pipeline import Pipeline
from shipline.settings import Settings, SourceSettings

SAMPLE_FILE = (
    Path(__file__).parent.parent / "tests" / "fixtures" / "x12" / "x12-214-canadapost-19.edi"
)


def build_document(events: int) -> bytes:
    """An interchange of ``events`` ST 214 messages: the sample's, varied per copy."""
    text = SAMPLE_FILE.read_text()
    header, _, rest = text.partition("ST*214*")
    body, _, trailer = ("ST*214*" + rest).rpartition("GE*")
    messages = [f"ST*214*{m}" for m in body.split("ST*214*") if m]
    copies: list[str] = []
    for n in range(events):
        copy, index = divmod(n, len(messages))
        day = 1 + copy % 28
        message = messages[index].replace("20191103", f"201910{day:02d}")
        message = message.replace("20191102", f"201909{day:02d}")
        copies.append("\n".join(_varied(line, copy) for line in message.split("\n")))
    return (header + "".join(copies) + "GE*" + trailer).encode()


def _varied(segment: str, copy: int) -> str:
    """A copy's shipment ids (B10-01/02, the L11 package numbers) with a suffix."""
    elements = segment.split("*")
    if elements[0] == "B10":
        elements[1:3] = [f"{e.strip()}-{copy}" for e in elements[1:3]]
    elif elements[0] == "L11" and elements[2:3] == ["97"]:
        elements[1] = f"{elements[1]}-{copy}"
    return "*".join(elements)


def measure(data: bytes, events: int, repeats: int) -> tuple[float, float]:
    """Median events/s of the importer alone and of a whole ingest."""
    imports: list[float] = []
    ingests: list[float] = []
    # The sample's first status has no time code (local time): the source's zone.
    settings = {"sources": {"x12": SourceSettings(timezone="America/Toronto")}}
    for repeat in range(repeats):
        started = time.perf_counter()
        imported = FORMAT.read(data)
        imports.append(time.perf_counter() - started)
        assert len(imported.records) == events
        with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
            database = str(Path(folder) / "x12.duckdb")
            with Pipeline(Settings(database=database, **settings)) as pipeline:
                started = time.perf_counter()
                result = pipeline.ingest_feed(data, None, f"bench-{repeat}")
                ingests.append(time.perf_counter() - started)
        counts = (result.accepted, result.rejected)
        assert counts == (events, 0), (counts, result.errors[:1])
    return events / statistics.median(imports), events / statistics.median(ingests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = build_document(args.events)
    importer, ingest = measure(data, args.events, args.repeats)
    print(f"X12 214 interchange: {args.events:,} status messages, {len(data) / 1e6:.1f} MB")
    print(f"{'stage':<30}{'events/s (median)':>20}")
    print(f"{'import (tokenize + map)':<30}{importer:>20,.0f}")
    print(f"{'ingest_feed into DuckDB':<30}{ingest:>20,.0f}")
    print(f"{'ingest vs import alone':<30}{ingest / importer:>20.0%}")


if __name__ == "__main__":
    main()
