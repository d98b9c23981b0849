"""Retention: a shipment past the retention period goes whole; the others stay."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shipline.errors import NotFoundError
from shipline.pipeline import Pipeline
from tests.conftest import Shipline


def created(shipment: str, day: str) -> dict[str, str]:
    return {"shipment_id": shipment, "event_timestamp": f"{day}T00:00:00Z", "event_type": "created"}


def test_retention_removes_a_shipment_whole_and_keeps_the_rest(pipeline: Pipeline) -> None:
    pipeline.ingest_records(
        [created("ANCIENT", "2023-01-01"), created("RECENT", "2026-11-01")], "test"
    )
    pipeline.base(as_of=date(2026, 12, 1))
    now = datetime(2026, 12, 2, tzinfo=UTC)
    dry = pipeline.apply_retention(now=now, dry_run=True)
    assert (dry.shipments, dry.events, dry.view_rows) == (1, 1, 1)
    assert pipeline.timeline("ANCIENT")
    removed = pipeline.apply_retention(now=now)
    assert removed.shipments == 1
    with pytest.raises(NotFoundError):
        pipeline.timeline("ANCIENT")
    assert pipeline.timeline("RECENT")
    assert (
        pipeline.backend.scalar(
            "SELECT count(*) FROM shipment_events WHERE shipment_id = 'ANCIENT'"
        )
        == 0
    )
    assert pipeline.status().checkpoint.view_rows == 1
    assert pipeline.verify(every_shipment=True).drift == 0


def test_retention_apply_from_the_cli(shipline: Shipline) -> None:
    events = "\n".join(
        json.dumps(created(s, d)) for s, d in [("OLD", "2020-01-01"), ("NEW", "2026-11-30")]
    )
    assert shipline("ingest", "-", stdin=events).returncode == 0
    assert shipline("incremental").returncode == 0
    dry = shipline("retention", "apply", "--dry-run")
    assert "would remove 1 shipments (1 events, 1 view rows)" in dry.stdout
    applied = json.loads(shipline("retention", "apply", "--json").stdout)
    assert (applied["shipments"], applied["applied"]) == (1, True)
    assert shipline("timeline", "OLD").returncode == 4
