"""A scratch copy of one shipment: its stored records in a DuckDB database in memory.

The dashboard's "How it works" runs the real engine (validation, the store, base,
incremental, replay and rebuild runs) on such a copy, so that explaining what a late
event does never writes into the user's store.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from shipline.store import Backend

HISTORY_TABLES = ("shipment_events", "superseded_events")
"""Every table a shipment's timeline is computed from (DESIGN section 2a)."""


def stored_history(backend: Backend, shipment_id: str) -> dict[str, pa.Table]:
    """Every stored record of the shipment, by table, as the store holds them."""
    return {
        table: backend.fetch_arrow(f"SELECT * FROM {table} WHERE shipment_id = ?", [shipment_id])
        for table in HISTORY_TABLES
    }


def restore_history(backend: Backend, history: dict[str, pa.Table]) -> None:
    """Insert the records of ``stored_history`` into another store's tables."""
    with backend.transaction():
        for table, rows in history.items():
            if rows.num_rows == 0:
                continue
            columns = ", ".join(rows.column_names)
            backend.register("restored_history", rows)
            try:
                backend.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM restored_history"
                )
            finally:
                backend.unregister("restored_history")


def days_covering(history: dict[str, pa.Table], now: datetime | None = None) -> int:
    """A lookback in days that puts every event of the history in a base run's window."""
    events = history["shipment_events"]
    if events.num_rows == 0:
        return 0
    stamps = events.column("event_timestamp").to_pylist() + events.column("ingested_at").to_pylist()
    oldest: datetime = min(stamp.astimezone(UTC) for stamp in stamps)
    return max(((now or datetime.now(UTC)) - oldest).days + 2, 0)
