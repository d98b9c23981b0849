"""``shipline predict`` and the prediction line of ``shipline timeline``."""

from __future__ import annotations

import json

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.conftest import Shipline
from tests.timeline.test_predict import TRAINED, two_lanes


def test_the_timeline_of_an_open_shipment_says_when_it_should_arrive(shipline: Shipline) -> None:
    with Pipeline(Settings(database=shipline.database)) as pipeline:
        two_lanes(pipeline, shipline.folder)

    shown = shipline("timeline", "W-OPEN")

    assert shown.returncode == 0, shown.stderr
    line = " ".join(shown.stdout.split())
    assert "predicted delivery 2026-01-07T06:00:00+00:00" in line
    assert f"from {TRAINED} deliveries like it" in line
    assert "stage=picked_up" in line
    delivered = shipline("timeline", "W00", "--format", "json")
    assert json.loads(delivered.stdout)["shipment"]["prediction"] is None


def test_predict_train_makes_a_new_model_version(shipline: Shipline) -> None:
    with Pipeline(Settings(database=shipline.database)) as pipeline:
        two_lanes(pipeline, shipline.folder)

    trained = shipline("predict", "train", "--json")

    assert trained.returncode == 0, trained.stderr
    figures = json.loads(trained.stdout)
    assert figures["model_version"] == 2  # the base run trained the first
    assert figures["predictions"] == 2  # W-OPEN and E-OPEN
    assert figures["samples"] == 4 * TRAINED  # two events before each delivery


def test_predict_evaluate_prints_the_methods_side_by_side(shipline: Shipline) -> None:
    with Pipeline(Settings(database=shipline.database)) as pipeline:
        two_lanes(pipeline, shipline.folder)

    shown = shipline("predict", "evaluate", "--split", "2026-01-01T12:00:00")

    assert shown.returncode == 0, shown.stderr
    assert "split 2026-01-01T12:00:00+00:00" in shown.stdout
    for method in ("model", "lane_median", "picked_up"):
        assert method in shown.stdout
    refused = shipline("predict", "evaluate", "--split", "soon")
    assert refused.returncode != 0
    assert "--split: 'soon' is not an ISO-8601 date or time" in refused.stderr
