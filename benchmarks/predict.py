"""Predicted delivery benchmark: how good it is, and what it costs.

    python -m benchmarks.predict [--events 300000] [--days 28] [--engine duckdb]
                                 [--split 2026-01-20]

Generates ``--events`` events over ``--days`` twice, once as the generator's
defaults make them and once ``structured`` (carriers that differ in pace, Sundays
that delay pickups and deliveries), ingests each, runs the base (which trains the
model and predicts every open shipment), and evaluates on a hold-out by time
(``shipline predict evaluate``): MAE, p50/p90 of the absolute error in hours and
the p10..p90 interval's coverage, overall and by stage, beside the promised
delivery, the carrier's estimate (none in generated data) and the lane's median
transit. It also times training and a k=1,000-event incremental run's predictions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks.engines import bench_database
from shipline.generate import generate_dataset
from shipline.pipeline import Pipeline
from shipline.settings import Settings
from shipline.timeline.predict_evaluate import METHODS, Evaluation

CHUNK = 500_000
TAIL = 1_000


def _row(row: dict[str, Any], stage: bool = False) -> str:
    coverage = "-" if row["coverage"] is None else f"{row['coverage']:.0%}"
    head = f"{row['stage']:<20} " if stage else ""
    return (
        f"{head}{row['method']:<17} {row['pairs']:>8,} {row['mae_hours']:>7.1f}"
        f" {row['p50_hours']:>7.1f} {row['p90_hours']:>7.1f} {coverage:>8}"
    )


def report(name: str, result: Evaluation, train_ms: float, tail_ms: float) -> None:
    """Print one world's evaluation as two tables."""
    print(f"\n== {name}: split {result.split:%Y-%m-%d %H:%M}, {result.train_shipments:,} trained,")
    print(
        f"   {result.test_shipments:,} tested at {result.pairs:,} events;"
        f" {result.segments:,} segments; train+predict-all {train_ms:,.0f} ms,"
        f" incremental of {TAIL:,} events {tail_ms:,.0f} ms,"
        f" evaluation {result.duration_ms:,.0f} ms"
    )
    print(f"{'method':<17} {'pairs':>8} {'MAE h':>7} {'p50 h':>7} {'p90 h':>7} {'coverage':>8}")
    for row in result.overall:
        print(_row(row))
    missing = set(METHODS) - {row["method"] for row in result.overall}
    for method in sorted(missing):
        print(f"{method:<17} {0:>8}  (nothing to compare: no such prediction for these events)")
    print(
        f"\n{'stage':<20} {'method':<17} {'pairs':>8} {'MAE h':>7} {'p50 h':>7} {'p90 h':>7}"
        f" {'coverage':>8}"
    )
    for row in result.by_stage:
        if row["method"] in ("model", "promised", "lane_median"):
            print(_row(row, stage=True))


def run(
    name: str, args: argparse.Namespace, workdir: Path, structured: bool
) -> tuple[Evaluation, float, float]:
    """Generate, ingest, base, evaluate one world."""
    data = generate_dataset(args.events, seed=7, days=args.days, structured=structured)
    pq.write_table(data.locations, workdir / f"{name}-locations.parquet")
    pq.write_table(data.packages, workdir / f"{name}-packages.parquet")
    events = data.events
    head = events.num_rows - TAIL
    with (
        bench_database(args.engine, workdir, f"predict_{name}") as database,
        Pipeline(Settings(database=database)) as pipeline,
    ):
        pipeline.load_reference("locations", workdir / f"{name}-locations.parquet")
        pipeline.load_reference("packages", workdir / f"{name}-packages.parquet")
        for offset in range(0, head, CHUNK):
            pipeline.ingest_table(events.slice(offset, min(CHUNK, head - offset)), "bench")
        pipeline.base()
        started = time.perf_counter()
        pipeline.train_predictions()
        train_ms = (time.perf_counter() - started) * 1000
        pipeline.ingest_table(events.slice(head), "bench")
        started = time.perf_counter()
        pipeline.incremental()
        tail_ms = (time.perf_counter() - started) * 1000
        split = datetime.fromisoformat(args.split).replace(tzinfo=UTC) if args.split else None
        return pipeline.evaluate_predictions(split), train_ms, tail_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--split", default=None, help="ISO date; by default 60% of deliveries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, structured in (("defaults", False), ("structured", True)):
            result, train_ms, tail_ms = run(name, args, Path(folder), structured)
            report(name, result, train_ms, tail_ms)


if __name__ == "__main__":
    main()
