"""Loader benchmark: one big upsert into a big table, and a burst of small files.

    python -m benchmarks.load [--existing 10000000] [--rows 1000000] [--files 1000]
                              [--repeats 3] [--engines duckdb,postgres]

1. A table ``order_items`` already holding ``--existing`` rows; a Parquet file of
   ``--rows`` rows, half of them updates of existing keys and half new, is loaded
   through the whole loader path (read, checksum, stage, delete + insert by
   (order_id, line_number), ledger) in one transaction. Target: >= 1M rows/s. On
   DuckDB, after each load, the anchor: a raw ``MERGE INTO order_items USING
   read_parquet(…)`` of another file of the same make, in the same table.
2. ``--files`` small Parquet files (10 rows each) of ``order_summary`` in a landing
   folder, loaded one transaction each. Target: >= 50 files/s.

It prints the median of ``--repeats`` runs of each, per engine, one engine after
the other in one process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.engines import bench_database
from shipline.loader import DEFAULT_KEYS, Loader, LocalSource, upsert
from shipline.notify import FanOut, LogNotifier
from shipline.store import Backend, open_backend

SEED_CHUNK = 1_000_000


def _open(database: str) -> Backend:
    backend = open_backend(database)
    backend.migrate()
    return backend


def _items(ids: np.ndarray, rng: np.random.Generator) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "order_id": pa.array(np.char.add("ORD-", np.char.zfill(ids.astype(str), 9))),
            "line_number": pa.array((ids % 5 + 1).astype(np.int32)),
            "product_id": pa.array(np.char.add("SKU-", rng.integers(0, 500, n).astype(str))),
            "quantity": pa.array(rng.integers(1, 10, n).astype(np.int32)),
            "unit_price": pa.array(np.round(rng.random(n) * 100, 2)),
            "line_total": pa.array(np.round(rng.random(n) * 500, 2)),
        }
    )


def big_upsert(
    engine: str, workdir: Path, existing: int, rows: int, repeats: int
) -> tuple[list[float], list[float]]:
    """Seconds per load of a ``rows``-row file into a table of ``existing`` rows, and
    per raw MERGE of such a file (DuckDB; none elsewhere)."""
    with bench_database(engine, workdir, "big") as database:
        backend = _open(database)
        try:
            _seed_items(backend, existing)
            return _load_big_files(backend, workdir / f"big-{engine}", existing, rows, repeats)
        finally:
            backend.close()


def _seed_items(backend: Backend, existing: int) -> None:
    """``order_items`` with ``existing`` rows, made by the loader's own first load."""
    rng = np.random.default_rng(7)
    for start in range(0, existing, SEED_CHUNK):
        ids = np.arange(start, min(existing, start + SEED_CHUNK))
        if start == 0:
            upsert(backend, "order_items", _items(ids, rng), DEFAULT_KEYS["order_items"])
            continue
        backend.register("seed_items", _items(ids, rng))
        backend.execute("INSERT INTO order_items SELECT * FROM seed_items")
        backend.unregister("seed_items")
    backend.refresh_statistics(["order_items"])


def _load_big_files(
    backend: Backend, landing: Path, existing: int, rows: int, repeats: int
) -> tuple[list[float], list[float]]:
    loader = Loader(backend, FanOut([LogNotifier()]), keys=DEFAULT_KEYS)
    landing.mkdir()
    source = LocalSource(landing)
    rng = np.random.default_rng(0)
    seconds, anchor = [], []
    taken = existing
    for repeat in range(repeats):
        path = landing / f"order_items_20251113_{repeat + 1:03d}.parquet"
        _write_upsert_file(path, existing, taken, rows, rng)
        taken += rows - rows // 2
        started = time.perf_counter()
        outcome = loader.load(source, source.describe(path))
        seconds.append(time.perf_counter() - started)
        assert outcome.status == "loaded", outcome.error
        assert outcome.updated == rows // 2, outcome
        if backend.DIALECT == "duckdb":
            raw = landing.parent / f"raw-{repeat}.parquet"
            _write_upsert_file(raw, existing, taken, rows, rng)
            taken += rows - rows // 2
            started = time.perf_counter()
            backend.execute(
                f"MERGE INTO order_items USING read_parquet('{raw}') AS s"
                " ON order_items.order_id = s.order_id"
                " AND order_items.line_number = s.line_number"
                " WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT"
            )
            anchor.append(time.perf_counter() - started)
    return seconds, anchor


def _write_upsert_file(
    path: Path, existing: int, taken: int, rows: int, rng: np.random.Generator
) -> None:
    """A file of ``rows`` rows: half updates of the first ``existing`` keys, half new
    keys from ``taken`` on."""
    updates = rng.choice(existing, rows // 2, replace=False)
    fresh = np.arange(taken, taken + rows - rows // 2)
    pq.write_table(_items(np.concatenate([updates, fresh]), rng), path)


def burst(engine: str, workdir: Path, files: int, repeats: int) -> list[float]:
    """Seconds to load ``files`` small files, one transaction each."""
    rng = np.random.default_rng(1)
    seconds = []
    for repeat in range(repeats):
        landing = workdir / f"burst-{engine}-{repeat}" / "landing"
        folder = landing / "order_summary" / "year=2025" / "month=11" / "day=13"
        folder.mkdir(parents=True)
        for number in range(files):
            ids = np.arange(number * 10, number * 10 + 10)
            pq.write_table(
                pa.table(
                    {
                        "order_id": pa.array(np.char.add("ORD-", ids.astype(str))),
                        "total": pa.array(np.round(rng.random(10) * 100, 2)),
                        "status": pa.array(["paid"] * 10),
                    }
                ),
                folder / f"order_summary_20251113_{number + 1:04d}.parquet",
            )
        with bench_database(engine, workdir, f"burst{repeat}") as database:
            backend = _open(database)
            loader = Loader(backend, FanOut([LogNotifier()]), keys=DEFAULT_KEYS)
            started = time.perf_counter()
            outcomes = loader.load_all(LocalSource(landing))
            seconds.append(time.perf_counter() - started)
            assert [o.status for o in outcomes] == ["loaded"] * files
            backend.close()
    return seconds


def main() -> None:
    """Run both benchmarks and print medians against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="duckdb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
        for engine in args.engines.split(","):
            report(engine, Path(folder), args)


def report(engine: str, workdir: Path, args: argparse.Namespace) -> None:
    """Both benchmarks on one engine, printed against the targets."""
    big, anchor = big_upsert(engine, workdir, args.existing, args.rows, args.repeats)
    median = statistics.median(big)
    print(
        f"[{engine}] upsert {args.rows:,} rows into {args.existing:,}: median {median:.3f} s"
        f" = {args.rows / median:,.0f} rows/s (target >= 1,000,000);"
        f" runs {', '.join(f'{s:.3f}' for s in big)}"
    )
    if anchor:
        raw = statistics.median(anchor)
        print(
            f"[{engine}] anchor, raw MERGE of such a file: median {raw:.3f} s"
            f" = {args.rows / raw:,.0f} rows/s; the loader takes {median / raw:.2f}x"
        )
    small = burst(engine, workdir, args.files, args.repeats)
    median = statistics.median(small)
    print(
        f"[{engine}] burst of {args.files:,} small files: median {median:.3f} s"
        f" = {args.files / median:,.0f} files/s (target >= 50);"
        f" runs {', '.join(f'{s:.3f}' for s in small)}"
    )


if __name__ == "__main__":
    main()
