"""KPIs, stuck shipments and a shipments page over a generated store, per engine.

    python -m benchmarks.kpis [--events 1000000] [--engines duckdb,postgres] [--repeats 3]

Each engine gets a store of the same generated events (with their locations and
packages) and a base run, which learns the stuck thresholds as each night's does.
Then each KPI grouping, the stuck shipments (all of them, the 100 stuck longest as
the dashboard lists them, and their count as the metric takes it) and one filtered
shipments page are timed; the table shows medians. A KPI report is timed twice:
read afresh from the facts the runs keep (``_ms``, what the first request after a
run pays) and kept for the same view version (``_kept_ms``, every later request
until a run, a retention pass or a reference load changes the view).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks.engines import bench_database
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.timeline.kpis import GroupBy, kpis
from shipline.timeline.shipments import ShipmentFilter
from shipline.timeline.stuck import count_stuck

CHUNK = 1_000_000
GROUPINGS: tuple[GroupBy | None, ...] = (None, "carrier", "lane", "location")


def median_ms(action: Callable[[], Any], repeats: int) -> float:
    """The median wall time of ``action`` in milliseconds."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def measure(engine: str, events: int, repeats: int, folder: Path) -> dict[str, float]:
    """Fill a store on ``engine`` and time the analytics reads against it."""
    data = generate_dataset(events, seed=5, late_fraction=0.0, bad_fraction=0.0)
    for name in ("locations", "packages"):
        pq.write_table(getattr(data, name), folder / f"{engine}-{name}.parquet")
    with (
        bench_database(engine, folder, "kpis") as database,
        Pipeline(Settings(database=database)) as pipeline,
    ):
        for name in ("locations", "packages"):
            pipeline.load_reference(name, folder / f"{engine}-{name}.parquet")
        for offset in range(0, data.events.num_rows, CHUNK):
            pipeline.ingest_table(data.events.slice(offset, CHUNK), "bench")
        pipeline.base()  # the nightly run, which also learns the stuck thresholds
        now = datetime.now(UTC)
        figures = {
            f"kpis_{by or 'all'}_ms": median_ms(partial(kpis, pipeline.backend, by), repeats)
            for by in GROUPINGS
        }
        for by in GROUPINGS:
            pipeline.kpis(by)
            figures[f"kpis_{by or 'all'}_kept_ms"] = median_ms(
                partial(pipeline.kpis, by),
                repeats,
            )
        figures["stuck_ms"] = median_ms(lambda: pipeline.stuck(now), repeats)
        figures["stuck_100_ms"] = median_ms(lambda: pipeline.stuck(now, limit=100), repeats)
        figures["stuck_count_ms"] = median_ms(lambda: count_stuck(pipeline.backend, now), repeats)
        figures["page_ms"] = median_ms(
            lambda: pipeline.list_shipments(ShipmentFilter(status="in_transit"), 100), repeats
        )
        figures["shipments"] = float(pipeline.kpis().groups[0].shipments)
        return figures


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
        for engine in args.engines.split(","):
            results[engine] = measure(engine, args.events, args.repeats, Path(folder))
            print(f"{engine}: {results[engine]}", flush=True)
    columns = [f"kpis_{by or 'all'}_ms" for by in GROUPINGS]
    columns += [f"kpis_{by or 'all'}_kept_ms" for by in GROUPINGS]
    columns += ["stuck_ms", "stuck_100_ms", "stuck_count_ms", "page_ms"]
    print(
        f"\n{'engine':<10} {'events':>10} {'shipments':>10} "
        + " ".join(f"{c:>16}" for c in columns)
    )
    for engine, figures in results.items():
        print(
            f"{engine:<10} {args.events:>10,} {figures['shipments']:>10,.0f} "
            + " ".join(f"{figures[c]:>{max(14, len(c) - 5)}.1f}" for c in columns)
        )


if __name__ == "__main__":
    main()
