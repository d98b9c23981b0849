"""Timeline benchmark: base build, incremental runs and a full recompute, side by side.

    python -m benchmarks.timeline [--sizes 1000000,10000000] [--repeats 3]
                                  [--engines duckdb,postgres]

For each store size n it ingests n generated events, times the base build (the
full recompute), then times incremental runs of k new events, in order and with
5% late events, k in 1k, 10k and 100k, and k=10k with 5% revisions and 1%
retractions of stored events (DESIGN 2a). ``--days`` sets the days of history the
store holds (the base recomputes the last 10 and keeps the rest frozen).
Everything runs in one process, one size after another, so the comparison shares
the machine's conditions. It prints medians and the ratios the targets are
stated in.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.engines import bench_database
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings

KS = (1_000, 10_000, 100_000)
CHUNK = 1_000_000
LATE_SHARE = 0.05
REVISED_SHARE = 0.05
RETRACTED_SHARE = 0.01


def make_late(batch: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Move 5% of a batch's events 1 to 48 hours into their shipment's past, as new events."""
    late = rng.random(batch.num_rows) < LATE_SHARE
    shift = pa.array((rng.integers(3_600, 48 * 3_600, batch.num_rows) * 1_000_000), pa.int64())
    shifted = pc.subtract(batch["event_timestamp"].cast(pa.int64()), shift).cast(
        batch["event_timestamp"].type
    )
    mask = pa.array(late)
    batch = batch.set_column(
        batch.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        pc.if_else(mask, shifted, batch["event_timestamp"]),
    )
    return batch.set_column(
        batch.schema.get_field_index("event_id"),
        "event_id",
        pc.if_else(mask, pa.nulls(batch.num_rows, pa.string()), batch["event_id"]),
    )


def make_revised(batch: pa.Table, stored: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Replace 5% of a batch with newer revisions of stored events (an hour later) and
    1% with retractions of others: corrections of events already in the view."""
    count = batch.num_rows
    stored = stored.filter(pc.is_valid(stored["event_id"]))  # a derived id has no revisions
    revised = int(count * REVISED_SHARE)
    retracted = int(count * RETRACTED_SHARE)
    picked = stored.take(pa.array(rng.choice(stored.num_rows, revised + retracted, replace=False)))
    hour = pa.scalar(3_600_000_000, pa.int64())
    times = pc.add(picked["event_timestamp"].cast(pa.int64()), hour)
    picked = picked.set_column(
        picked.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        times.cast(picked["event_timestamp"].type),
    )
    picked = picked.append_column("revision", pa.array([1] * (revised + retracted), pa.int64()))
    picked = picked.append_column(
        "retracted", pa.array([False] * revised + [True] * retracted, pa.bool_())
    )
    fresh = batch.slice(0, count - revised - retracted)
    fresh = fresh.append_column("revision", pa.nulls(fresh.num_rows, pa.int64()))
    fresh = fresh.append_column("retracted", pa.nulls(fresh.num_rows, pa.bool_()))
    return pa.concat_tables([fresh, picked.select(fresh.column_names)])


def measure(engine: str, n: int, repeats: int, workdir: Path, days: int) -> dict[str, float]:
    """Figures for one engine and store size, in seconds."""
    extra = repeats * 3 * sum(KS)
    data = generate_dataset(
        n + extra,
        seed=n % 97,
        days=days,
        late_fraction=0.0,
        duplicate_fraction=0.0,
        bad_fraction=0.0,
    ).events
    rng = np.random.default_rng(1)
    figures: dict[str, float] = {}
    with (
        bench_database(engine, workdir, f"timeline{n}") as database,
        Pipeline(Settings(database=database)) as pipeline,
    ):
        started = time.perf_counter()
        for offset in range(0, n, CHUNK):
            pipeline.ingest_table(data.slice(offset, min(CHUNK, n - offset)), "bench")
        figures["ingest"] = time.perf_counter() - started
        today = datetime.now(UTC).date()
        # The first base also computes the state of shipments outside the window;
        # the nightly runs after it are what a full recompute costs.
        started = time.perf_counter()
        pipeline.base(as_of=today)
        figures["first_base"] = time.perf_counter() - started
        base_times = []
        for _ in range(repeats):
            started = time.perf_counter()
            pipeline.base(as_of=today)
            base_times.append(time.perf_counter() - started)
        figures["base"] = statistics.median(base_times)
        figures["base_rows"] = pipeline.status().base_rows
        offset = n
        for late in (False, True):
            for k in KS:
                times = []
                for _ in range(repeats):
                    batch = data.slice(offset, k)
                    offset += k
                    if late:
                        batch = make_late(batch, rng)
                    pipeline.ingest_table(batch, "bench")
                    started = time.perf_counter()
                    pipeline.incremental()
                    times.append(time.perf_counter() - started)
                figures[f"incremental_{k}_{'late' if late else 'in_order'}"] = statistics.median(
                    times
                )
        times = []
        for _ in range(repeats):
            batch = make_revised(data.slice(offset, 10_000), data.slice(0, n), rng)
            offset += 10_000
            pipeline.ingest_table(batch, "bench")
            started = time.perf_counter()
            pipeline.incremental()
            times.append(time.perf_counter() - started)
        figures["incremental_10000_revised"] = statistics.median(times)
        figures["drift"] = pipeline.verify(every_shipment=True).drift
    return figures


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="duckdb")
    parser.add_argument("--days", type=int, default=14, help="Days of history in the store.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        for engine in args.engines.split(","):
            for n in sizes:
                results[engine, n] = measure(engine, n, args.repeats, Path(tmp), args.days)
                print(f"{engine} n={n:,} done: {results[engine, n]}", flush=True)
    print()
    print(f"{'engine':<9}{'n':>12} {'measure':<34} {'median s':>10} {'vs full':>10}")
    for (engine, n), figures in results.items():
        full = figures["base"]
        print(f"{engine:<9}{n:>12,} {'ingest (events/s)':<34} {n / figures['ingest']:>10,.0f}")
        print(
            f"{engine:<9}{n:>12,} {'first base (+ all state)':<34} {figures['first_base']:>10.3f}"
        )
        print(f"{engine:<9}{n:>12,} {'base = full recompute':<34} {full:>10.3f} {'1':>10}")
        print(f"{engine:<9}{n:>12,} {'base (events/s)':<34} {n / full:>10,.0f}")
        for key, value in figures.items():
            if key.startswith("incremental_"):
                _, k, kind = key.split("_", 2)
                label = f"incremental k={int(k):,} {kind.replace('_', ' ')}"
                print(
                    f"{engine:<9}{n:>12,} {label:<34} {value:>10.3f} {f'1/{full / value:,.0f}':>10}"
                )
        print(f"{engine:<9}{n:>12,} {'verify drift':<34} {figures['drift']:>10.0f}")
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        key = "incremental_10000_in_order"
        for engine in args.engines.split(","):
            ratio = results[engine, large][key] / results[engine, small][key]
            print(
                f"\n{engine}: k=10k in order at n={large:,} takes {ratio:.2f}x"
                f" its time at n={small:,} (target <= 1.5x)"
            )


if __name__ == "__main__":
    main()
