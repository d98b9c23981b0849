"""Estimates and references: what a record says beside its event (DESIGN 2a).

They are stored with the batch's events, in the same transaction. An estimate is
kept per (shipment, kind, estimated time, source, classifier) once; the latest
received per (shipment, kind, source) is the one served. A reference is kept once
per (type, reference, shipment).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from shipline.store import Backend

_INSERT_ESTIMATES = """
INSERT INTO shipment_estimates (shipment_id, kind, estimated_at, source, classifier, received_at)
SELECT DISTINCT n.shipment_id, n.kind, n.estimated_at, ?, n.classifier, CAST(? AS TIMESTAMPTZ)
FROM incoming_estimates AS n
WHERE NOT EXISTS (
    SELECT 1 FROM shipment_estimates AS e
    WHERE e.shipment_id = n.shipment_id AND e.kind = n.kind
      AND e.estimated_at = n.estimated_at AND e.source = ?
      AND e.classifier IS NOT DISTINCT FROM n.classifier
)
"""

_INSERT_REFERENCES = """
INSERT INTO shipment_references (reference_type, reference, shipment_id)
SELECT DISTINCT n.reference_type, n.reference, n.shipment_id FROM incoming_references AS n
WHERE NOT EXISTS (
    SELECT 1 FROM shipment_references AS r
    WHERE r.reference_type = n.reference_type AND r.reference = n.reference
      AND r.shipment_id = n.shipment_id
)
"""


@dataclass(frozen=True)
class SideCounts:
    """How many estimates and references the kept records carried."""

    estimates: int
    references: int


def store_side_data(
    backend: Backend, accepted: pa.Table, source: str, refused: Collection[int]
) -> SideCounts:
    """Store the estimates and references of the accepted records but ``refused`` ones
    (record indexes of conflicts: their event went to dead letters, so does the rest)."""
    rows = accepted.select(["record_index", "shipment_id", "estimates", "references"])
    if refused:  # the columns first, then the rows: a filter copies every column it keeps
        refused_indexes = pa.array(list(refused), pa.int64())
        rows = rows.filter(pc.invert(pc.is_in(rows.column("record_index"), refused_indexes)))
    estimates = _flatten(rows, "estimates", ["kind", "estimated_at", "classifier"])
    references = _flatten(rows, "references", ["type", "reference"]).rename_columns(
        ["shipment_id", "reference_type", "reference"]
    )
    received_at = datetime.now(UTC)
    for name, table, sql, params in (
        ("incoming_estimates", estimates, _INSERT_ESTIMATES, [source, received_at, source]),
        ("incoming_references", references, _INSERT_REFERENCES, []),
    ):
        if table.num_rows:
            backend.register(name, table)
            try:
                backend.execute(sql, params)
            finally:
                backend.unregister(name)
    return SideCounts(estimates.num_rows, references.num_rows)


def _flatten(rows: pa.Table, column: str, fields: list[str]) -> pa.Table:
    """One row per list item, with its record's shipment_id."""
    lists = rows.column(column).combine_chunks()
    parents = pc.list_parent_indices(lists)
    items = pc.list_flatten(lists)
    columns = {"shipment_id": pc.take(rows.column("shipment_id"), parents)}
    for name in fields:
        columns[name] = pc.struct_field(items, name)
    return pa.table(columns)
