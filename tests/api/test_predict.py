"""Through the real server: the predicted delivery beside the summary and the timeline."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Running
from tests.timeline.test_predict import TRAINED, at, two_lanes


def test_an_open_shipment_is_served_with_its_predicted_delivery(
    server: Running, tmp_path: Path
) -> None:
    two_lanes(server.pipeline, tmp_path)

    with server.client("read") as client:
        shipment = client.get("/v1/shipments/W-OPEN").json()
        timeline = client.get("/v1/shipments/W-OPEN/timeline").json()
        delivered = client.get("/v1/shipments/W00").json()

    predicted = shipment["prediction"]
    assert predicted["point"] == predicted["p10"] == predicted["p90"] == at(150).isoformat()
    assert predicted["samples"] == TRAINED
    assert predicted["segment"] == "lane=east>west carrier=UPS service=standard stage=picked_up"
    assert timeline["prediction"] == predicted
    assert delivered["prediction"] is None
