"""A format's importer options come from ``[formats.NAME]`` in shipline.toml: EPCIS
can key shipments by business transaction instead of by EPC."""

from __future__ import annotations

import shutil
from pathlib import Path

from shipline.pipeline import Pipeline
from shipline.settings import Settings
from tests.conftest import Shipline
from tests.engines import fresh_database

SHIPPING = (
    Path(__file__).parent.parent / "fixtures" / "epcis" / "epcis-object-shipping-receiving.jsonld"
)
PURCHASE_ORDER = "http://transaction.acme.com/po/12345678"


def test_epcis_keyed_by_business_transaction(engine: str) -> None:
    options = {"epcis": {"shipment_key": "business_transaction"}}
    with (
        fresh_database(engine) as database,
        Pipeline(Settings(database=database, formats=options)) as pipeline,
    ):
        result = pipeline.ingest_feed(SHIPPING.read_bytes(), None, "shipping.jsonld")
        assert (result.accepted, result.rejected) == (2, 0)
        pipeline.incremental()
        rows = pipeline.timeline(PURCHASE_ORDER)
    assert [row["event_type"] for row in rows] == ["departed_facility", "arrived_at_facility"]


def test_an_option_the_format_does_not_have_is_a_configuration_error(
    shipline: Shipline,
) -> None:
    (shipline.folder / "shipline.toml").write_text('[formats.epcis]\nshipment = "po"\n')
    shutil.copyfile(SHIPPING, shipline.folder / "shipping.jsonld")
    done = shipline("ingest", "shipping.jsonld")
    assert done.returncode != 0
    said = " ".join(done.stderr.split())
    assert "[formats.epcis] shipment: not an option of epcis (its options: shipment_key)" in said
    assert "Traceback" not in done.stderr
