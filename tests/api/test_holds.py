"""Through the real server: a poison shipment is held while the healthy ones'
events keep reaching the view within the processor's normal latency."""

from __future__ import annotations

import time

from tests.api.conftest import Running, wait_for
from tests.timeline.test_holds import event, store_poison


def timeline_types(server: Running, shipment_id: str) -> list[str]:
    with server.client("read") as client:
        response = client.get(f"/v1/shipments/{shipment_id}/timeline")
    if response.status_code != 200:
        return []
    return [row["event_type"] for row in response.json()["timeline"]]


def test_a_poison_shipment_does_not_stop_the_others(server: Running) -> None:
    with server.client("ingest") as client:
        first = client.post("/v1/events", json=[event("API-GOOD", 8), event("API-POISON", 8)])
    assert first.status_code == 200
    wait_for(lambda: timeline_types(server, "API-GOOD") == ["in_transit"])
    store_poison(server.pipeline, "API-POISON")

    sent = time.monotonic()
    with server.client("ingest") as client:
        later = client.post("/v1/events", json=[event("API-GOOD", 10, "delivered")])
    assert later.json()["accepted"] == 1
    wait_for(lambda: timeline_types(server, "API-GOOD") == ["in_transit", "delivered"])
    latency = time.monotonic() - sent

    assert latency < 5, f"the healthy shipment's event took {latency:.2f} s"
    with server.client("admin") as client:
        status = client.get("/v1/status").json()
        metrics = client.get("/metrics").text
    assert status["held_shipments"] == 1
    assert status["pending_events"] == 0
    assert "shipline_held_shipments 1.0" in metrics
    assert [hold.shipment_id for hold in server.pipeline.holds()] == ["API-POISON"]
