"""``shipline holds`` and ``shipline verify`` on a pipeline with a held shipment."""

from __future__ import annotations

import json

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.conftest import Shipline
from tests.timeline.test_holds import event, store_poison


def hold_one(shipline: Shipline) -> None:
    with Pipeline(Settings(database=shipline.database)) as pipeline:
        pipeline.ingest_records([event("GOOD", 8), event("POISON", 8)], "test")
        store_poison(pipeline, "POISON")
        pipeline.incremental()


def test_holds_list_shows_the_shipment_and_its_error(shipline: Shipline) -> None:
    hold_one(shipline)

    listed = shipline("holds", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    (hold,) = json.loads(listed.stdout)
    assert hold["shipment_id"] == "POISON"
    assert hold["reason"]
    assert "POISON" in shipline("holds", "list").stdout


def test_verify_exits_8_while_a_shipment_is_held(shipline: Shipline) -> None:
    hold_one(shipline)

    verified = shipline("verify")

    assert verified.returncode == 8, verified.stdout + verified.stderr
    assert "drift 0" in verified.stdout
    assert "1 held shipments" in verified.stdout
    assert "held shipment(s); see `shipline holds" in verified.stderr
    stats = json.loads(shipline("verify", "--json").stdout)
    assert (stats["drift"], stats["held_shipments"], stats["stuck"]) == (0, 1, True)


def test_holds_release_asks_the_next_run_to_retry(shipline: Shipline) -> None:
    hold_one(shipline)

    released = shipline("holds", "release", "POISON", "ELSE")

    assert released.returncode == 0, released.stderr
    assert "released 1 held shipment(s) for retry; 1 of the 2 are not held" in released.stdout
    (hold,) = json.loads(shipline("holds", "list", "--json").stdout)
    assert hold["retry"] is True
    shipline("incremental")  # it fails again: held again, no longer marked for retry
    (again,) = json.loads(shipline("holds", "list", "--json").stdout)
    assert again["retry"] is False
