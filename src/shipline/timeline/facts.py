"""The facts the KPIs are read from, kept by the runs beside each shipment's last row.

A KPI report needs, per shipment, its pickup and first delivery, where its first
delivery and first delivery attempt fall in its timeline and how many exception
rows it has; and, per shipment and location, the time it spent there. Computed
from the view on each request that is a read of every timeline row (2 s at ten
million events); kept by the runs it is a read of a row per shipment.

So ``shipment_state`` carries the per-shipment facts (``FACT_COLUMNS``) and
``shipment_dwell`` the dwell per location, in microseconds. Each run rewrites them
for the shipments it touches, as it rewrites their state rows:

* a new or recomputed shipment's facts and dwell come from all its rows;
* an appended shipment's are its stored ones combined with its new rows': every
  new event sorts after its old last row, so an old first delivery stays first,
  counts add up, and the dwell of each location gains each newly followed row's
  time to its successor (the old last row's among them).
"""

from __future__ import annotations

FACT_COLUMNS = (
    "picked_up_at",
    "delivered_at",
    "delivered_sequence",
    "attempted_sequence",
    "exception_count",
)
"""The per-shipment facts, after the last row's columns in ``shipment_state``."""

_FACTS = """
    min(CASE WHEN r.event_type = 'picked_up' THEN r.event_timestamp END) AS picked_up_at,
    min(CASE WHEN r.event_type = 'delivered' THEN r.event_timestamp END) AS delivered_at,
    min(CASE WHEN r.event_type = 'delivered' THEN r.event_sequence END) AS delivered_sequence,
    min(CASE WHEN r.event_type = 'delivery_attempted' THEN r.event_sequence END)
        AS attempted_sequence,
    count(CASE WHEN r.status = 'exception' THEN 1 END) AS exception_count"""


def facts_of(rows: str) -> str:
    """SELECT of (shipment_id, *FACT_COLUMNS) of every shipment in timeline ``rows``."""
    return f"SELECT r.shipment_id,{_FACTS}\nFROM {rows} AS r GROUP BY r.shipment_id"


def appended_facts(old: str, new: str) -> str:
    """The facts (``FACT_COLUMNS``, in order) of a shipment whose stored facts are
    ``old`` and whose new rows' are ``new`` (either alias may be missing: NULLs)."""
    return ", ".join(
        f"coalesce({old}.exception_count, 0) + coalesce({new}.exception_count, 0)"
        if name == "exception_count"
        else f"coalesce({old}.{name}, {new}.{name})"
        for name in FACT_COLUMNS
    )


def dwell_parts(rows: str) -> str:
    """SELECT of (shipment_id, location_id, dwell_us): each row of timeline ``rows``
    that is followed, with its time to its successor, at its location."""
    return (
        "SELECT r.shipment_id, r.location_id,"
        " epoch_us(r.next_event_timestamp) - epoch_us(r.event_timestamp) AS dwell_us"
        f" FROM {rows} AS r"
        " WHERE r.location_id IS NOT NULL AND r.next_event_timestamp IS NOT NULL"
    )


def dwell_of(parts: str) -> str:
    """SELECT of ``shipment_dwell`` rows from a relation of dwell parts."""
    return (
        "SELECT d.shipment_id, d.location_id, sum(d.dwell_us) AS dwell_us"
        f" FROM ({parts}) AS d GROUP BY d.shipment_id, d.location_id"
    )
