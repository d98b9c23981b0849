"""A Lambda container keeps its pipeline between invocations, and drops it after the
warehouse fails one."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipline.aws.config import load_aws_settings
from shipline.aws.container import pipelines, warehouse_settings
from shipline.aws.handlers import base_handler, stream_handler, verify_handler
from shipline.errors import BackendError
from shipline.pipeline import Pipeline
from shipline.store import open_backend
from tests.aws.conftest import Aws


def cached() -> Pipeline:
    with pipelines.open(warehouse_settings(load_aws_settings())) as pipeline:
        return pipeline


def test_warm_invocations_reuse_the_pipeline(aws: Aws, warehouse: str) -> None:
    assert len(pipelines) == 0
    stream_handler({"Records": []}, None)
    first = cached()
    verify_handler({}, None)
    base_handler({"as_of": "2026-01-03"}, None)
    assert cached() is first  # no new connection, migrations or views
    assert len(pipelines) == 1


def test_a_warehouse_failure_drops_the_pipeline_and_the_next_invocation_builds_one(
    aws: Aws, warehouse: str
) -> None:
    verify_handler({}, None)
    first = cached()
    first.backend.execute("ALTER TABLE shipment_events RENAME TO moved_away")
    with pytest.raises(BackendError):
        verify_handler({}, None)
    assert len(pipelines) == 0
    repair = open_backend(first.settings.database)
    repair.execute("ALTER TABLE moved_away RENAME TO shipment_events")
    repair.close()
    assert verify_handler({}, None)["drift"] == 0
    assert cached() is not first


def test_a_bad_input_keeps_the_pipeline(aws: Aws, warehouse: str) -> None:
    verify_handler({}, None)
    first = cached()
    with pytest.raises(ValueError, match="Invalid isoformat"):
        base_handler({"as_of": "not a date"}, None)
    assert cached() is first


def test_pipelines_are_kept_per_database(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream_handler({"Records": []}, None)
    monkeypatch.setenv("SHIPLINE_DATABASE", str(tmp_path / "other.duckdb"))
    stream_handler({"Records": []}, None)
    assert len(pipelines) == 2
    pipelines.clear()
    assert len(pipelines) == 0
