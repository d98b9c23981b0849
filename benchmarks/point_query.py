"""Point queries: one shipment's timeline from the real-time view, per engine.

    python -m benchmarks.point_query [--events 10000000] [--engines duckdb,postgres]

Each engine gets a store of the same generated events, a base run, then an
incremental batch (so the view has both sides). Then one shipment's timeline is
read for random shipments, and p50 / p99 latencies are printed side by side: on
an idle store (the first reads after the base, then the same shipments again, with
their blocks cached), and while another thread of the same process runs the
nightly base (as an API worker's processor would).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.engines import bench_database
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings

CHUNK = 1_000_000


def measure(engine: str, events: int, queries: int, folder: Path) -> dict[str, float]:
    """Fill a store on ``engine`` and time point queries against it."""
    data = generate_dataset(events + 10_000, seed=3, late_fraction=0.0, bad_fraction=0.0).events
    with (
        bench_database(engine, folder, "point") as database,
        Pipeline(Settings(database=database)) as pipeline,
    ):
        started = time.perf_counter()
        for offset in range(0, events, CHUNK):
            pipeline.ingest_table(data.slice(offset, min(CHUNK, events - offset)), "bench")
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.base(as_of=datetime.now(UTC).date())
        base = time.perf_counter() - started
        pipeline.ingest_table(data.slice(events, 10_000), "bench")
        pipeline.incremental()
        shipments = [
            row[0]
            for row in pipeline.backend.fetchall(
                "SELECT shipment_id FROM shipment_state WHERE in_view"
            )
        ]
        sample = random.Random(1).sample(shipments, min(queries, len(shipments)))
        idle = timed_reads(pipeline, sample)
        warm = timed_reads(pipeline, sample)  # the same shipments again, their blocks cached
        busy = threading.Thread(target=pipeline.base, kwargs={"as_of": datetime.now(UTC).date()})
        busy.start()
        time.sleep(0.2)  # let the base take its locks
        during_base = timed_reads(pipeline, sample, while_alive=busy)
        busy.join()
        return {
            "load_s": loaded,
            "base_s": base,
            "p50_ms": percentile(idle, 0.50),
            "p99_ms": percentile(idle, 0.99),
            "warm_p50_ms": percentile(warm, 0.50),
            "warm_p99_ms": percentile(warm, 0.99),
            "base_p50_ms": percentile(during_base, 0.50),
            "base_p99_ms": percentile(during_base, 0.99),
            "base_reads": len(during_base),
        }


def timed_reads(
    pipeline: Pipeline, sample: list[str], while_alive: threading.Thread | None = None
) -> list[float]:
    """Milliseconds per timeline read, over ``sample`` (or until ``while_alive`` ends)."""
    latencies = []
    for shipment_id in sample:
        if while_alive is not None and not while_alive.is_alive():
            break
        started = time.perf_counter()
        pipeline.timeline(shipment_id)
        latencies.append((time.perf_counter() - started) * 1000)
    return sorted(latencies) or [float("nan")]


def percentile(sorted_values: list[float], share: float) -> float:
    """The value below which ``share`` of the sorted values lie."""
    if share == 0.5:
        return statistics.median(sorted_values)
    return sorted_values[max(0, int(len(sorted_values) * share) - 1)]


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--engines", default="duckdb,postgres")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
        for engine in args.engines.split(","):
            results[engine] = measure(engine, args.events, args.queries, Path(folder))
            print(f"{engine}: {results[engine]}", flush=True)
    print(
        f"\n{'engine':<10} {'events':>12} {'load s':>8} {'base s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'again: p50':>10} {'p99':>6} {'during base: reads':>19} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for engine, figures in results.items():
        print(
            f"{engine:<10} {args.events:>12,} {figures['load_s']:>8.1f} {figures['base_s']:>8.1f}"
            f" {figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f}"
            f" {figures['warm_p50_ms']:>10.2f} {figures['warm_p99_ms']:>6.2f}"
            f" {figures['base_reads']:>19,} {figures['base_p50_ms']:>8.2f}"
            f" {figures['base_p99_ms']:>8.2f}"
        )


if __name__ == "__main__":
    main()
