"""The performance report: shipline's figures beside their anchors, from one run.

    python -m benchmarks.report --events 10000000 [--repeats 3] [--engines duckdb]
    python -m benchmarks.report --quick            # 1M events

For each engine and size, in one process so that every ratio shares the machine's
conditions (medians of ``--repeats``):

* ingest of the events, as one Parquet file into an empty store, beside a raw
  ``CREATE TABLE … AS SELECT * FROM read_parquet(…)`` of the same file (DuckDB);
* the nightly base beside a raw CTAS of the contract SQL (``timeline_rows`` over
  every current event, joined to locations) in the same database;
* incremental runs of 10k new events, in order and with 5% late, as a fraction of
  that CTAS and of each other;
* ``verify --all`` beside the base;
* the peak memory and the time of the base and of ``verify --all``, each in a
  process of its own that opens the store and runs only it (DuckDB's figure is
  mostly its cache of the tables it read, within its default limit of 3 GiB).

With ``--events N`` the quick size (1M) runs first too, so the growth from 1M to N
is in the same report. The figures of the HTTP path, the loader and point queries
come from ``benchmarks.ingest``, ``benchmarks.load`` and ``benchmarks.point_query``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.engines import bench_database
from benchmarks.timeline import make_late
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.timeline.sql import CURRENT, EVENT_COLUMNS, NO_SEED, columns, timeline_rows

QUICK = 1_000_000
BATCH = 10_000

_ANCHOR_CTAS = f"""
CREATE TABLE anchor_timeline AS
SELECT r.*, l.location_name, l.region
FROM ({
    timeline_rows(
        f"(SELECT {columns(EVENT_COLUMNS, 'e.')}, {NO_SEED} FROM shipment_events AS e"
        f" WHERE e.ingest_seq <= ? AND {CURRENT})"
    )
}) AS r
LEFT JOIN locations AS l ON l.location_id = r.location_id
"""


def timed(action: Callable[[], object], repeats: int) -> float:
    """The median seconds of ``action``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(engine: str, n: int, repeats: int, folder: Path) -> dict[str, float]:
    """Every figure of one engine and size, in seconds (memory in MiB)."""
    extra = repeats * 2 * BATCH
    data = generate_dataset(
        n + extra, seed=7, late_fraction=0.0, duplicate_fraction=0.0, bad_fraction=0.0
    )
    events = data.events
    parquet = folder / f"events-{n}.parquet"
    pq.write_table(events.slice(0, n), parquet)
    pq.write_table(data.locations, folder / "locations.parquet")
    with bench_database(engine, folder, f"report{n}") as database:
        figures = _measure_in(database, engine, events, n, repeats, folder, parquet)
        figures["base_peak_mib"], figures["base_alone"] = alone(database, "base")
        figures["verify_peak_mib"], figures["verify_alone"] = alone(database, "verify")
    return figures


_ALONE = """
import sys, time
from datetime import UTC, datetime
from shipline.pipeline import Pipeline
from shipline.settings import Settings
with Pipeline(Settings(database=sys.argv[1])) as p:
    started = time.perf_counter()
    if sys.argv[2] == "base":
        p.base(as_of=datetime.now(UTC).date())
    else:
        assert p.verify(every_shipment=True).drift == 0
    seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through exec.
status = open("/proc/self/status").read()
peak_kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
print(int(peak_kib) / 1024, seconds)
"""


def alone(database: str, action: str) -> tuple[float, float]:
    """The peak MiB and the seconds of ``action`` (base or verify --all) in a process
    of its own, so that nothing else this process did counts."""
    done = subprocess.run(
        [sys.executable, "-c", _ALONE, database, action],
        capture_output=True,
        text=True,
        check=True,
    )
    peak, seconds = done.stdout.split()
    return float(peak), float(seconds)


def _measure_in(
    database: str,
    engine: str,
    events: pa.Table,
    n: int,
    repeats: int,
    folder: Path,
    parquet: Path,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    rng = np.random.default_rng(1)
    with Pipeline(Settings(database=database)) as pipeline:
        pipeline.load_reference("locations", folder / "locations.parquet")
        started = time.perf_counter()
        pipeline.ingest_files([parquet])
        figures["ingest"] = time.perf_counter() - started
        if engine == "duckdb":
            figures["ingest_anchor"] = _anchor_ingest(pipeline, parquet, repeats)
        today = datetime.now(UTC).date()
        pipeline.base(as_of=today)  # the first also fills the state of every shipment
        figures["base"] = timed(lambda: pipeline.base(as_of=today), repeats)
        figures["ctas"] = _anchor_ctas(pipeline, repeats)
        offset = n
        for late in (False, True):
            times = []
            for _ in range(repeats):
                batch = events.slice(offset, BATCH)
                offset += BATCH
                pipeline.ingest_table(make_late(batch, rng) if late else batch, "bench")
                started = time.perf_counter()
                pipeline.incremental()
                times.append(time.perf_counter() - started)
            figures["late" if late else "in_order"] = statistics.median(times)
        drift = 0
        verify_times = []
        for _ in range(repeats):
            started = time.perf_counter()
            drift += pipeline.verify(every_shipment=True).drift
            verify_times.append(time.perf_counter() - started)
        figures["verify"] = statistics.median(verify_times)
        figures["drift"] = drift
    return figures


def _anchor_ingest(pipeline: Pipeline, parquet: Path, repeats: int) -> float:
    def copy() -> None:
        pipeline.backend.execute("DROP TABLE IF EXISTS anchor_events")
        pipeline.backend.execute(
            f"CREATE TABLE anchor_events AS SELECT * FROM read_parquet('{parquet}')"
        )

    seconds = timed(copy, repeats)
    pipeline.backend.execute("DROP TABLE anchor_events")
    return seconds


def _anchor_ctas(pipeline: Pipeline, repeats: int) -> float:
    upto = int(pipeline.backend.scalar("SELECT max(ingest_seq) FROM shipment_events"))

    def ctas() -> None:
        pipeline.backend.execute("DROP TABLE IF EXISTS anchor_timeline")
        pipeline.backend.execute(_ANCHOR_CTAS, [upto, upto])

    seconds = timed(ctas, repeats)
    pipeline.backend.execute("DROP TABLE anchor_timeline")
    return seconds


def report(results: dict[tuple[str, int], dict[str, float]], repeats: int) -> str:
    """The Markdown table of every figure, its anchor and its target."""
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {os.cpu_count()} cores and"
        f" {_memory_gib():.0f} GiB ({platform.system()}, Python"
        f" {platform.python_version()}), medians of {repeats}:",
        "",
        "| engine | events | figure | shipline | anchor | ratio | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (engine, n), f in results.items():
        rows = [
            (
                "ingest of one Parquet file",
                f"{n / f['ingest']:,.0f} events/s",
                f"{n / f['ingest_anchor']:,.0f} events/s (raw CTAS)"
                if "ingest_anchor" in f
                else "",
                f"{f['ingest_anchor'] / f['ingest']:.0%} of its rate"
                if "ingest_anchor" in f
                else "",
                ">= 1M events/s",
            ),
            (
                "base",
                f"{f['base']:.2f} s",
                f"{f['ctas']:.2f} s (raw CTAS of the contract)",
                f"{f['base'] / f['ctas']:.2f}x",
                "<= 1.15x",
            ),
            (
                "incremental, 10k in order",
                f"{f['in_order']:.3f} s",
                f"{f['ctas']:.2f} s (raw CTAS)",
                f"1/{f['ctas'] / f['in_order']:,.0f}",
                "<= 1/100",
            ),
            (
                "incremental, 10k with 5% late",
                f"{f['late']:.3f} s",
                f"{f['in_order']:.3f} s (in order)",
                f"{f['late'] / f['in_order']:.2f}x",
                "<= 2x",
            ),
            (
                "verify --all",
                f"{f['verify']:.2f} s (drift {f['drift']:.0f})",
                f"{f['base']:.2f} s (base)",
                f"{f['verify'] / f['base']:.2f}x",
                "<= 1.5x",
            ),
            (
                "peak memory: base / verify, each alone",
                f"{f['base_peak_mib']:,.0f} / {f['verify_peak_mib']:,.0f} MiB",
                "",
                "",
                "<= 4 GiB",
            ),
            (
                "verify --all, each alone",
                f"{f['verify_alone']:.2f} s",
                f"{f['base_alone']:.2f} s (base)",
                f"{f['verify_alone'] / f['base_alone']:.2f}x",
                "<= 1.5x",
            ),
        ]
        lines += [f"| {engine} | {n:,} | " + " | ".join(row) + " |" for row in rows]
    lines += _growth(results)
    return "\n".join(lines)


def _growth(results: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    lines = []
    for engine in sorted({engine for engine, _ in results}):
        sizes = sorted(n for e, n in results if e == engine)
        if len(sizes) < 2:
            continue
        small, large = results[engine, sizes[0]], results[engine, sizes[-1]]
        lines.append(
            f"\n{engine}: from {sizes[0]:,} to {sizes[-1]:,} events the 10k in-order run grows"
            f" {large['in_order'] / small['in_order']:.2f}x and the late one"
            f" {large['late'] / small['late']:.2f}x (target <= 1.2x)."
        )
    return lines


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help=f"Only {QUICK:,} events.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="duckdb")
    args = parser.parse_args()
    if args.quick:
        sizes = [QUICK]
    else:
        sizes = [args.events] if args.events <= QUICK else [QUICK, args.events]
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="shipline-report-") as tmp:
        for engine in args.engines.split(","):
            for n in sizes:
                results[engine, n] = measure(engine, n, args.repeats, Path(tmp))
                print(f"{engine} {n:,}: {results[engine, n]}", flush=True)
    print(report(results, args.repeats))


if __name__ == "__main__":
    main()
