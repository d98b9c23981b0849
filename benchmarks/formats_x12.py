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
from pathlib import Path

from benchmarks.formats import measure, print_figures
from shipline.settings import SourceSettings

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = build_document(args.events)
    # The sample's first status has no time code (local time): the source's zone.
    zone = {"x12": SourceSettings(timezone="America/Toronto")}
    importer, ingest = measure("x12", data, args.events, args.repeats, sources=zone)
    title = f"X12 214 interchange: {args.events:,} status messages"
    print_figures(title, data, importer, ingest)


if __name__ == "__main__":
    main()
