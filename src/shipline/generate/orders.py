"""Realistic synthetic orders for the loader: order_summary, order_items, order_flattened.

Everything is generated column-wise with numpy and written with pyarrow (Parquet) or
DuckDB (JSON), in the landing layout the loader reads:
``<table>/year=YYYY/month=MM/day=DD/<table>_YYYYMMDD_NNN.<ext>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

OrderFormat = Literal["parquet", "json"]
TABLES = ("order_summary", "order_items", "order_flattened")
STATUSES = np.array(["placed", "paid", "shipped", "delivered", "cancelled", "returned"])
STATUS_P = np.array([0.08, 0.12, 0.25, 0.45, 0.06, 0.04])
CHANNELS = np.array(["web", "mobile_app", "marketplace", "phone"])
CHANNEL_P = np.array([0.5, 0.3, 0.15, 0.05])
COUNTRIES = np.array(["US", "GB", "DE", "FR", "CA", "AU", "NL", "JP"])
COUNTRY_P = np.array([0.45, 0.12, 0.1, 0.08, 0.08, 0.07, 0.05, 0.05])
CATEGORIES = np.array(["electronics", "apparel", "home", "books", "toys", "beauty", "sports"])
PRODUCTS = 500
TAX_RATE = 0.08


@dataclass(frozen=True)
class Orders:
    """The three order tables, in memory."""

    summary: pa.Table
    items: pa.Table
    flattened: pa.Table

    def table(self, name: str) -> pa.Table:
        """One of the tables by its warehouse name."""
        return {"order_summary": self.summary, "order_items": self.items}.get(name, self.flattened)


def generate_orders(
    orders: int, *, seed: int = 0, days: int = 7, start: datetime | None = None
) -> Orders:
    """``orders`` orders over ``days`` days, with 1-6 lines each from a product catalog."""
    if orders < 1:
        raise ValueError("orders must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    rng = np.random.default_rng(seed)
    first = start or datetime(2025, 11, 13, tzinfo=UTC) - timedelta(days=days - 1)
    epoch_us = int(first.timestamp() * 1_000_000)
    offsets = np.sort(rng.integers(0, days * 86_400, orders)) * 1_000_000
    placed = pa.array(epoch_us + offsets, pa.timestamp("us", tz="UTC"))
    day_strings = pc.strftime(placed, format="%Y%m%d")
    seq = np.arange(orders)
    order_id = pc.binary_join_element_wise(
        "ORD-", day_strings, "-", pa.array(np.char.zfill(seq.astype(str), 8)), ""
    )
    customer = pa.array(
        np.char.add(
            "CUST-", np.char.zfill(rng.integers(1, max(orders // 3, 2), orders).astype(str), 7)
        )
    )

    # Catalogue: fixed per seed, prices log-normal around $25.
    catalog_price = np.round(np.exp(rng.normal(3.2, 0.8, PRODUCTS)) + 0.99, 2)
    catalog_category = rng.integers(0, len(CATEGORIES), PRODUCTS)

    lines = np.clip(rng.poisson(1.4, orders) + 1, 1, 6)
    total_lines = int(lines.sum())
    line_order = np.repeat(seq, lines)
    starts = np.cumsum(lines) - lines
    line_number = (np.arange(total_lines) - np.repeat(starts, lines) + 1).astype(np.int32)
    product = rng.integers(0, PRODUCTS, total_lines)
    quantity = np.clip(rng.geometric(0.6, total_lines), 1, 10).astype(np.int32)
    unit_price = catalog_price[product]
    discount = np.where(rng.random(total_lines) < 0.2, rng.choice([0.05, 0.1, 0.2], total_lines), 0)
    line_total = np.round(unit_price * quantity * (1 - discount), 2)

    subtotal = np.round(np.bincount(line_order, weights=line_total, minlength=orders), 2)
    shipping = np.where(subtotal >= 50, 0.0, 5.99)
    tax = np.round(subtotal * TAX_RATE, 2)
    status = rng.choice(STATUSES, orders, p=STATUS_P)
    summary = pa.table(
        {
            "order_id": order_id,
            "customer_id": customer,
            "order_timestamp": placed,
            "status": pa.array(status),
            "channel": pa.array(rng.choice(CHANNELS, orders, p=CHANNEL_P)),
            "shipping_country": pa.array(rng.choice(COUNTRIES, orders, p=COUNTRY_P)),
            "currency": pa.array(np.full(orders, "USD")),
            "item_count": pa.array(
                np.bincount(line_order, weights=quantity, minlength=orders).astype(np.int32)
            ),
            "line_count": pa.array(lines.astype(np.int32)),
            "subtotal": pa.array(subtotal),
            "shipping": pa.array(shipping),
            "tax": pa.array(tax),
            "total": pa.array(np.round(subtotal + shipping + tax, 2)),
        }
    )
    line_index = pa.array(line_order)
    items = pa.table(
        {
            "order_id": order_id.take(line_index),
            "line_number": pa.array(line_number),
            "product_id": pa.array(np.char.add("SKU-", np.char.zfill(product.astype(str), 5))),
            "category": pa.array(CATEGORIES[catalog_category[product]]),
            "quantity": pa.array(quantity),
            "unit_price": pa.array(unit_price),
            "discount_rate": pa.array(discount.astype(np.float64)),
            "line_total": pa.array(line_total),
        }
    )
    header = summary.select(
        ["customer_id", "order_timestamp", "status", "channel", "shipping_country", "currency"]
    ).take(line_index)
    flattened = items
    for name in header.column_names:
        flattened = flattened.append_column(name, header.column(name))
    return Orders(summary=summary, items=items, flattened=flattened)


def write_orders(
    data: Orders,
    out: Path,
    *,
    file_format: OrderFormat = "parquet",
    files_per_day: int = 1,
) -> list[Path]:
    """Write each table in the date-partitioned landing layout; return the files."""
    if file_format not in ("parquet", "json"):
        raise ValueError(f"format {file_format!r}: use parquet or json")
    if files_per_day < 1:
        raise ValueError("files_per_day must be at least 1")
    written: list[Path] = []
    con = duckdb.connect() if file_format == "json" else None
    try:
        for name in TABLES:
            table = data.table(name)
            day_of = pc.strftime(
                table.column("order_timestamp")
                if "order_timestamp" in table.column_names
                else data.summary.column("order_timestamp").take(
                    pc.index_in(table.column("order_id"), data.summary.column("order_id"))
                ),
                format="%Y%m%d",
            )
            for day in pc.unique(day_of).to_pylist():
                rows = table.filter(pc.equal(day_of, day))
                chunk = -(-rows.num_rows // files_per_day)
                for number in range(files_per_day):
                    part = rows.slice(number * chunk, chunk)
                    if part.num_rows == 0:
                        continue
                    folder = out / name / f"year={day[:4]}" / f"month={day[4:6]}" / f"day={day[6:]}"
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"{name}_{day}_{number + 1:03d}.{file_format}"
                    if con is None:
                        pq.write_table(part, path, compression="zstd")
                    else:
                        con.register("part", part)
                        target = exp.Literal.string(str(path)).sql("duckdb")
                        # ISO 8601 in whole seconds: what JSON readers infer as a timestamp.
                        select = (
                            "SELECT * REPLACE (strftime(order_timestamp, '%Y-%m-%dT%H:%M:%SZ')"
                            " AS order_timestamp) FROM part"
                            if "order_timestamp" in part.column_names
                            else "SELECT * FROM part"
                        )
                        con.execute(f"COPY ({select}) TO {target} (FORMAT json, ARRAY true)")
                        con.unregister("part")
                    written.append(path)
    finally:
        if con is not None:
            con.close()
    return written
