"""POST /v1/events and /v1/put-events against a real server: outcomes, limits, auth."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from shipline.store.keys import revoke_key
from tests.api.conftest import Running, wait_for


def shipment() -> str:
    """A shipment id of its own for each test."""
    return "S-" + uuid.uuid4().hex[:12]


def event(
    shipment_id: str, hour: int, event_type: str = "in_transit", **extra: Any
) -> dict[str, Any]:
    """A valid event ``hour`` hours into 2026-11-20."""
    return {
        "shipment_id": shipment_id,
        "event_timestamp": f"2026-11-20T{hour:02d}:00:00Z",
        "event_type": event_type,
        **extra,
    }


def stored_count(server: Running, shipment_id: str) -> int:
    """How many events of the shipment are stored."""
    return int(
        server.pipeline.backend.scalar(
            "SELECT count(*) FROM shipment_events WHERE shipment_id = ?", [shipment_id]
        )
    )


def timeline(server: Running, shipment_id: str, rows: int) -> list[dict[str, Any]] | None:
    """The shipment's timeline once it has ``rows`` rows, else None."""
    with server.client("read") as client:
        response = client.get(f"/v1/shipments/{shipment_id}/timeline")
    if response.status_code != 200:
        return None
    found: list[dict[str, Any]] = response.json()["timeline"]
    return found if len(found) == rows else None


def test_one_event_is_accepted_and_reaches_the_timeline(server: Running) -> None:
    s = shipment()
    with server.client("ingest") as client:
        response = client.post("/v1/events", json=event(s, 1, "created"))
    assert response.status_code == 200
    assert response.json() == {
        "received": 1,
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
        "records": [{"index": 0, "outcome": "accepted"}],
    }
    rows = wait_for(lambda: timeline(server, s, 1))
    assert rows[0]["event_type"] == "created"
    assert rows[0]["status"] == "pre_transit"
    assert rows[0]["event_sequence"] == 1
    with server.client("read") as client:
        summary = client.get(f"/v1/shipments/{s}")
    assert summary.status_code == 200
    assert summary.json()["event_count"] == 1


def test_partial_batch_failure_reports_each_record(server: Running) -> None:
    s = shipment()
    body = [
        event(s, 1, "created"),
        event(s, 2, "picked_up"),
        event(s, 2, "picked_up"),  # the same event again in the same body
        {"shipment_id": s, "event_timestamp": "2026-11-20T03:00:00", "event_type": "teleported"},
        "not an object",
    ]
    with server.client("ingest") as client:
        response = client.post("/v1/events", json=body)
    assert response.status_code == 200
    data = response.json()
    assert (data["received"], data["accepted"], data["duplicates"], data["rejected"]) == (
        5,
        2,
        1,
        2,
    )
    outcomes = [record["outcome"] for record in data["records"]]
    assert outcomes == ["accepted", "accepted", "duplicate", "rejected", "rejected"]
    bad = data["records"][3]
    assert any(e.startswith("event_timestamp:") for e in bad["errors"])
    assert any(e.startswith("event_type:") for e in bad["errors"])
    assert data["records"][4]["errors"] == ["record: expected a JSON object, got str"]
    assert stored_count(server, s) == 2
    with server.client("admin") as client:
        letter = client.get(f"/v1/dead-letters/{bad['dead_letter_id']}")
    assert letter.status_code == 200
    assert "teleported" in letter.json()["payload"]
    wait_for(lambda: timeline(server, s, 2))


def test_ndjson_with_a_broken_line(server: Running) -> None:
    s = shipment()
    body = "\n".join(
        [json.dumps(event(s, 1, "created")), "{broken", json.dumps(event(s, 2, "picked_up"))]
    )
    with server.client("ingest") as client:
        response = client.post(
            "/v1/events", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
    assert response.status_code == 200
    records = response.json()["records"]
    assert [r["outcome"] for r in records] == ["accepted", "rejected", "accepted"]
    assert records[1]["line"] == 2
    assert "not valid JSON" in records[1]["errors"][0]


def test_duplicate_delivery_is_stored_once(server: Running) -> None:
    s = shipment()
    body = [event(s, 1, "created"), event(s, 5, "delivered", event_id=f"{s}-d")]
    with server.client("ingest") as client:
        first = client.post("/v1/events", json=body)
        again = client.post("/v1/events", json=body)
        # The same instant with another offset is the same event.
        shifted = client.post(
            "/v1/events",
            json={**body[0], "event_timestamp": "2026-11-20T02:00:00+01:00"},
        )
    assert first.json()["accepted"] == 2
    assert [r["outcome"] for r in again.json()["records"]] == ["duplicate", "duplicate"]
    assert shifted.json()["records"] == [{"index": 0, "outcome": "duplicate"}]
    assert stored_count(server, s) == 2
    rows = wait_for(lambda: timeline(server, s, 2))
    assert [row["event_sequence"] for row in rows] == [1, 2]


def test_conflict_is_rejected_and_first_write_wins(server: Running) -> None:
    s = shipment()
    with server.client("ingest") as client:
        client.post("/v1/events", json=event(s, 1, "created", event_id=f"{s}-x"))
        response = client.post("/v1/events", json=event(s, 2, "picked_up", event_id=f"{s}-x"))
    record = response.json()["records"][0]
    assert record["outcome"] == "rejected"
    assert "first write wins" in record["errors"][0]


def test_authentication_and_scopes(server: Running) -> None:
    s = shipment()
    with server.client(None) as anonymous:
        assert anonymous.post("/v1/events", json=event(s, 1)).status_code == 401
        assert anonymous.get("/v1/status").status_code == 401
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        wrong = anonymous.get("/v1/status", headers={"Authorization": "Bearer shpl_nope"})
        assert wrong.status_code == 401
        basic = anonymous.get("/v1/status", headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401
    with server.client("read") as reader:
        assert reader.post("/v1/events", json=event(s, 1)).status_code == 403
        assert reader.get("/v1/status").status_code == 200
        assert reader.get("/v1/dead-letters").status_code == 403
    with server.client("ingest") as ingester:
        assert ingester.get("/v1/status").status_code == 403
        assert ingester.post("/v1/events", json=event(s, 1)).status_code == 200
    with server.client("admin") as admin:
        assert admin.get("/v1/status").status_code == 200
        assert admin.get("/v1/dead-letters").status_code == 200
        assert admin.post("/v1/events", json=event(s, 2)).status_code == 200


def test_revoked_key_is_refused(server: Running) -> None:
    from shipline.store.keys import Keyring, create_key

    settings = server.pipeline.settings
    keyring = Keyring.for_database(settings.database, settings.api_keyring)
    new = create_key(server.pipeline.backend, keyring, "read")
    headers = {"Authorization": f"Bearer {new.key}"}
    with server.client(None) as client:
        assert client.get("/v1/status", headers=headers).status_code == 200
        revoke_key(server.pipeline.backend, new.key_id)
        server.app.state.services.keys.forget()
        assert client.get("/v1/status", headers=headers).status_code == 401
        # the other keys still work: several are active at once
        with server.client("read") as reader:
            assert reader.get("/v1/status").status_code == 200


def test_limits(server: Running) -> None:
    s = shipment()
    limit = server.pipeline.settings
    with server.client("ingest") as client:
        too_big = client.post(
            "/v1/events",
            content=b"[" + b" " * (256 * 1024) + b"]",
            headers={"Content-Type": "application/json"},
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "body_too_large"
        wrong_type = client.post(
            "/v1/events", content=json.dumps(event(s, 1)), headers={"Content-Type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        no_type = client.post("/v1/events", content=json.dumps(event(s, 1)), headers={})
        assert no_type.status_code == 415
        many = [event(s, 1, event_id=f"{s}-{i}") for i in range(1001)]
        assert client.post("/v1/events", json=many).status_code == 422
        for bad in (b"{not json", b"", b"   ", b"\xff\xfe"):
            response = client.post(
                "/v1/events", content=bad, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, bad
            assert response.json()["error"]["message"].startswith("body:")
    assert stored_count(server, s) == 0
    assert limit.max_batch_records == 1000


def test_put_events_routes_shipment_entries_only(server: Running) -> None:
    s = shipment()

    def entry(source: str, detail_type: str, detail: str) -> dict[str, str]:
        return {"Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": "b"}

    body = {
        "Entries": [
            entry("shipment.service", "shipment.created", json.dumps(event(s, 1, "created"))),
            entry("other.service", "shipment.created", json.dumps(event(s, 2, "picked_up"))),
            entry("shipment.service", "order.created", json.dumps(event(s, 3, "in_transit"))),
            entry("shipment.service", "shipment.update", "{not json"),
            entry("shipment.service", "shipment.update", json.dumps({"shipment_id": s})),
            {"Source": "shipment.service", "DetailType": "shipment.update"},
            entry("shipment.service", "shipment.delivered", json.dumps(event(s, 9, "delivered"))),
        ]
    }
    with server.client("ingest") as client:
        response = client.post("/v1/put-events", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["FailedEntryCount"] == 3
    entries = data["Entries"]
    assert len(entries) == 7
    assert all("EventId" in entries[i] for i in (0, 1, 2, 6))
    assert entries[3]["ErrorCode"] == "MalformedDetail"
    assert entries[4]["ErrorCode"] == "InvalidArgument"
    assert "event_timestamp: required" in entries[4]["ErrorMessage"]
    assert entries[5]["ErrorCode"] == "InvalidArgument"
    assert stored_count(server, s) == 2  # only the routed, valid entries
    rows = wait_for(lambda: timeline(server, s, 2))
    assert [row["event_type"] for row in rows] == ["created", "delivered"]
    with server.client("ingest") as client:
        assert client.post("/v1/put-events", json={"Entries": "x"}).status_code == 400
        assert client.post("/v1/put-events", json=[1]).status_code == 400


def test_dead_letters_redrive_and_purge(server: Running) -> None:
    s = shipment()
    with server.client("ingest") as client:
        records = client.post(
            "/v1/events",
            json=[{**event(s, 1), "event_type": "scanned"}, {**event(s, 2), "shipment_id": ""}],
        ).json()["records"]
    fixable, hopeless = (r["dead_letter_id"] for r in records)
    with server.client("admin") as admin:
        listed = admin.get("/v1/dead-letters", params={"limit": 1000}).json()
        assert {fixable, hopeless} <= {row["dead_letter_id"] for row in listed}
        fixed = json.dumps(event(s, 1, "in_transit"))
        redriven = admin.post("/v1/dead-letters/redrive", json={"ids": [fixable], "payload": fixed})
        assert redriven.status_code == 200
        assert redriven.json()["accepted"] == 1
        purged = admin.post("/v1/dead-letters/purge", json={"ids": [hopeless]})
        assert purged.json() == {"purged": 1}
        assert admin.get(f"/v1/dead-letters/{hopeless}").json()["state"] == "purged"
        assert admin.get(f"/v1/dead-letters/{fixable}").json()["state"] == "redriven"
        assert admin.get("/v1/dead-letters/999999").status_code == 404
        assert admin.get("/v1/dead-letters", params={"state": "bogus"}).status_code == 422
    wait_for(lambda: timeline(server, s, 1))


def test_status_metrics_and_docs(server: Running) -> None:
    s = shipment()
    with server.client("admin") as client:
        client.post("/v1/events", json=[event(s, 1, "created"), {"bad": 1}])
        wait_for(lambda: timeline(server, s, 1))
        status = client.get("/v1/status").json()
        assert status["processor"]["running"] is True
        assert status["processor"]["runs"] >= 1
        assert status["events"] >= 1
        text = client.get("/metrics").text
        assert 'shipline_ingest_records_total{endpoint="events",outcome="accepted"}' in text
        assert 'shipline_ingest_records_total{endpoint="events",outcome="rejected"}' in text
        assert "shipline_http_request_duration_seconds_bucket" in text
        assert 'route="/v1/events"' in text
        for name in (
            "shipline_processing_lag_seconds",
            "shipline_checkpoint_ingest_seq",
            "shipline_dead_letters_open",
            'shipline_runs_total{process_type="incremental",result="ok"}',
        ):
            assert name in text
        # The monitor's snapshot (taken when the server started) and alert states.
        families = {f.name for f in text_string_to_metric_families(text)}
        assert {
            "shipline_monitor_processing_lag_seconds",
            "shipline_monitor_alert_firing",
        } <= families
        assert client.get("/docs").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/v1/events", "/v1/put-events", "/v1/shipments/{shipment_id}/timeline"} <= set(
            paths
        )
        assert client.get("/v1/shipments/nope/timeline").status_code == 404


def test_concurrent_requests_share_group_commits_with_exact_outcomes(server: Running) -> None:
    import asyncio

    import httpx

    s = shipment()
    same = event(s, 1, "created")
    headers = {"Authorization": f"Bearer {server.keys['ingest'].key}"}

    async def send_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            own = [
                client.post("/v1/events", json=[event(s, 2 + i % 20, event_id=f"{s}-{i}"), same])
                for i in range(40)
            ]
            return [r.json() for r in await asyncio.gather(*own)]

    answers = asyncio.run(send_all())
    firsts = [answer["records"][0] for answer in answers]
    assert all(r == {"index": 0, "outcome": "accepted"} for r in firsts)
    seconds = [answer["records"][1] for answer in answers]
    assert [r["index"] for r in seconds] == [1] * 40
    assert sorted(r["outcome"] for r in seconds) == ["accepted"] + ["duplicate"] * 39
    assert stored_count(server, s) == 41
    stats = server.app.state.services.ingest_queue.stats
    assert stats.requests > stats.groups  # some requests did share a transaction


def test_a_dcsa_page_posted_as_it_comes_is_ingested(server: Running) -> None:
    page = Path(__file__).parent.parent / "fixtures" / "dcsa" / "dcsa-tnt300-response.json"
    with server.client("ingest") as client:
        response = client.post(
            "/v1/events?format=dcsa",
            content=page.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        unknown = client.post("/v1/events?format=edifact", json={"events": []})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (3, 0)
    assert answer["skipped"]["dcsa IOT event (not a movement)"] == 1
    assert unknown.status_code == 400
    assert "edifact" in unknown.text
    rows = wait_for(lambda: timeline(server, "HHL71800000", 2))
    assert [row["event_type"] for row in rows] == ["created", "departed_facility"]
