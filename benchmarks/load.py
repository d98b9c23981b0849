"""Loader benchmark: one big upsert into a big table, and a burst of small files.

    python -m benchmarks.load [--existing 10000000] [--rows 1000000] [--files 1000] [--repeats 3]

1. A table ``order_items`` already holding ``--existing`` rows; a Parquet file of
   ``--rows`` rows, half of them updates of existing keys and half new, is loaded
   through the whole loader path (read, checksum, stage, delete + insert by
   (order_id, line_number), ledger) in one transaction. Target: >= 1M rows/s.
2. ``--files`` small Parquet files (10 rows each) of ``order_summary`` in a landing
   folder, loaded one transaction each. Target: >= 50 files/s.

It prints the median of ``--repeats`` runs of each.
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

from shipline.loader import DEFAULT_KEYS, Loader, LocalSource
from shipline.notify import FanOut, LogNotifier
from shipline.store import Backend, open_backend


def _open(path: Path) -> Backend:
    backend = open_backend(str(path))
    backend.migrate()
    backend.execute("SET enable_progress_bar = false")
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


def big_upsert(workdir: Path, existing: int, rows: int, repeats: int) -> list[float]:
    """Seconds per load of a ``rows``-row file into a table of ``existing`` rows."""
    backend = _open(workdir / "big.duckdb")
    backend.execute(
        "CREATE TABLE order_items AS SELECT"
        " 'ORD-' || lpad(CAST(i AS VARCHAR), 9, '0') AS order_id,"
        " CAST(i % 5 + 1 AS INTEGER) AS line_number,"
        " 'SKU-' || CAST(i % 500 AS VARCHAR) AS product_id,"
        " CAST(i % 9 + 1 AS INTEGER) AS quantity,"
        " round(random() * 100, 2) AS unit_price,"
        " round(random() * 500, 2) AS line_total"
        f" FROM range({int(existing)}) AS r(i)"
    )
    backend.execute("CHECKPOINT")
    loader = Loader(backend, FanOut([LogNotifier()]), keys=DEFAULT_KEYS)
    landing = workdir / "big-landing"
    landing.mkdir()
    source = LocalSource(landing)
    rng = np.random.default_rng(0)
    seconds = []
    for repeat in range(repeats):
        updates = rng.choice(existing, rows // 2, replace=False)
        fresh = np.arange(existing + repeat * rows, existing + repeat * rows + rows - rows // 2)
        path = landing / f"order_items_20251113_{repeat + 1:03d}.parquet"
        pq.write_table(_items(np.concatenate([updates, fresh]), rng), path)
        started = time.perf_counter()
        outcome = loader.load(source, source.describe(path))
        seconds.append(time.perf_counter() - started)
        assert outcome.status == "loaded", outcome.error
        assert outcome.updated == rows // 2, outcome
    backend.close()
    return seconds


def burst(workdir: Path, files: int, repeats: int) -> list[float]:
    """Seconds to load ``files`` small files, one transaction each."""
    rng = np.random.default_rng(1)
    seconds = []
    for repeat in range(repeats):
        landing = workdir / f"burst-{repeat}" / "landing"
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
        backend = _open(workdir / f"burst-{repeat}.duckdb")
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as folder:
        workdir = Path(folder)
        big = big_upsert(workdir, args.existing, args.rows, args.repeats)
        median = statistics.median(big)
        print(
            f"upsert {args.rows:,} rows into {args.existing:,}: median {median:.3f} s"
            f" = {args.rows / median:,.0f} rows/s (target >= 1,000,000);"
            f" runs {', '.join(f'{s:.3f}' for s in big)}"
        )
        small = burst(workdir, args.files, args.repeats)
        median = statistics.median(small)
        print(
            f"burst of {args.files:,} small files: median {median:.3f} s"
            f" = {args.files / median:,.0f} files/s (target >= 50);"
            f" runs {', '.join(f'{s:.3f}' for s in small)}"
        )


if __name__ == "__main__":
    main()
