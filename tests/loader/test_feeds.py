"""The loader takes industry formats by their landing key: ``events/<format>/…`` goes
through that format's importer, as ``shipline ingest --format`` would."""

from __future__ import annotations

import shutil
from pathlib import Path

from shipline.pipeline import Pipeline

FIXTURES = Path(__file__).parent.parent / "fixtures"


def land(root: Path, key: str, fixture: str) -> None:
    target = root / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / fixture, target)


def test_landed_feeds_go_through_their_importers(pipeline: Pipeline, tmp_path: Path) -> None:
    land(tmp_path, "events/dcsa/2026/page-1.json", "dcsa/dcsa-tnt300-response.json")
    land(tmp_path, "events/x12/carrier/status.txt", "x12/x12-214-edifabric-single.edi")
    land(tmp_path, "events/epcis/shipping.jsonld", "epcis/epcis-object-shipping-receiving.jsonld")
    outcomes = {o["file_key"].split("/")[-1]: o for o in pipeline.load_files([str(tmp_path)])}
    assert {name: o["status"] for name, o in outcomes.items()} == {
        "page-1.json": "loaded",
        "status.txt": "loaded",
        "shipping.jsonld": "loaded",
    }
    # The loader runs the incremental: the DCSA booking and departure are in the view.
    rows = pipeline.timeline("HHL71800000")
    assert [row["event_type"] for row in rows] == ["created", "departed_facility"]


def test_a_landing_key_of_no_known_format_fails_with_the_formats(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    land(tmp_path, "events/edifact/page.json", "dcsa/dcsa-tnt300-response.json")
    land(tmp_path, "events/x12/wrong.edi", "dcsa/dcsa-tnt300-response.json")
    outcomes = {o["file_key"].split("/")[-1]: o for o in pipeline.load_files([str(tmp_path)])}
    assert outcomes["page.json"]["status"] == "failed"
    assert "events/edifact/ names no format shipline reads" in outcomes["page.json"]["error"]
    assert outcomes["wrong.edi"]["status"] == "failed"
    assert "wrong.edi" in outcomes["wrong.edi"]["error"]
