"""The dashboard's page, assets and JSON endpoints over HTTP (no browser)."""

from __future__ import annotations

from typing import Any

import httpx

from shipline.dashboard.explain import COMPARED
from tests.e2e.conftest import Dashboard


def contract(row: dict[str, Any]) -> dict[str, Any]:
    """A timeline row's event and derived columns, without when and how it was written."""
    return {column: row[column] for column in ("event_id", *COMPARED)}


def test_page_and_assets_are_served_from_the_package(dashboard: Dashboard) -> None:
    page = httpx.get(dashboard.url + "/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/dashboard/static/dashboard.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "css")):
        asset = httpx.get(f"{dashboard.url}/dashboard/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert "https://" not in asset.text
    assert httpx.get(dashboard.url + "/dashboard/static/../routes.py").status_code == 404
    assert httpx.get(dashboard.url + "/dashboard/static/routes.py").status_code == 404


def test_endpoints_need_a_key_with_the_right_scope(dashboard: Dashboard) -> None:
    response = httpx.get(dashboard.url + "/dashboard/api/pipeline")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]
    with httpx.Client(base_url=dashboard.url) as client:
        late = client.post(
            "/dashboard/api/explain/late-event", json={"shipment_id": "x", "position": 1}
        )
        assert late.status_code == 401
        replay = client.post("/dashboard/api/explain/recovery", json={"shipment_id": "x"})
        assert replay.status_code == 401


def test_pipeline_matches_the_status(dashboard: Dashboard) -> None:
    status = dashboard.settled()
    with dashboard.client() as client:
        data = client.get("/dashboard/api/pipeline").json()
    for name in ("events", "newest_ingest_seq", "shipments", "open_dead_letters", "base_rows"):
        assert data["status"][name] == status[name], name
    assert data["status"]["checkpoint"] == status["checkpoint"]
    stages = data["stages"]
    assert sum(row["events"] for row in stages["sources"]) == status["events"]
    assert {row["source"] for row in stages["sources"]} == {"demo", "demo-stream"}
    assert stages["ingest"]["dead_letters_total"] >= status["open_dead_letters"] > 0
    kinds = [run["process_type"] for run in data["runs"]]
    assert "daily_base" in kinds and "incremental" in kinds
    incremental = next(run for run in data["runs"] if run["process_type"] == "incremental")
    assert 0 < incremental["rows_written"] < incremental["full_recompute_rows"]
    assert data["dead_letters"] and "payload" not in data["dead_letters"][0]
    [load] = data["loads"]
    assert (load["table_name"], load["status"], load["rows"]) == ("order_summary", "loaded", 3)
    assert stages["loader"]["by_status"] == [{"status": "loaded", "files": 1, "rows": 3}]


def test_shipment_search_filters_and_detail(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        everything = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
        found = everything["shipments"]
        assert found and len(everything["statuses"]) == 8 and everything["regions"]
        first = found[0]["shipment_id"]
        by_prefix = client.get("/dashboard/api/shipments", params={"q": first.lower()}).json()
        assert first in [row["shipment_id"] for row in by_prefix["shipments"]]
        delivered = client.get("/dashboard/api/shipments", params={"status": "delivered"}).json()
        assert all(row["current_status"] == "delivered" for row in delivered["shipments"])
        late = client.get("/dashboard/api/shipments", params={"late": "true"}).json()
        assert all(row["on_time"] is False for row in late["shipments"])
        exceptions = client.get("/dashboard/api/shipments", params={"exceptions": True}).json()
        assert all(row["exception_count"] > 0 for row in exceptions["shipments"])
        region = everything["regions"][0]
        in_region = client.get("/dashboard/api/shipments", params={"region": region}).json()
        assert all(row["region"] == region for row in in_region["shipments"])

        detail = client.get(f"/dashboard/api/shipments/{first}").json()
        assert detail["summary"]["shipment_id"] == first
        sequences = [row["event_sequence"] for row in detail["timeline"]]
        assert sequences == list(range(1, len(sequences) + 1))
        assert len(sequences) == detail["summary"]["event_count"]

        missing = client.get("/dashboard/api/shipments/NO-SUCH-SHIPMENT")
        assert missing.status_code == 404
        assert "NO-SUCH-SHIPMENT" in missing.json()["error"]["message"]


def test_metrics_and_alerts(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        data = client.get("/dashboard/api/metrics", params={"minutes": 60}).json()
    per_minute = data["series"]["per_minute"]
    assert sum(row["accepted"] for row in per_minute) == dashboard.status()["events"]
    runs = data["series"]["runs"]
    assert runs and all(run["duration_ms"] >= 0 for run in runs)
    assert all(run["lag_seconds"] is None or run["lag_seconds"] >= 0 for run in runs)
    assert "processing_lag" in data["now"]
    rules = {alert["rule"]: alert for alert in data["alerts"]}
    assert rules, "the packaged default rules are listed"
    # serve's monitor evaluates the rules on a schedule, the first time at start
    assert all(alert["state"] in (None, "ok", "firing") for alert in rules.values())
    assert all(isinstance(alert["holds_now"], bool) for alert in rules.values())


def test_a_simulated_late_event_rewrites_only_the_suffix_and_leaves_the_store(
    dashboard: Dashboard,
) -> None:
    with dashboard.client("read") as client:
        shipments = client.get("/dashboard/api/shipments", params={"limit": 500}).json()
    candidate = next(row for row in shipments["shipments"] if row["event_count"] >= 4)
    shipment_id, count = candidate["shipment_id"], candidate["event_count"]
    position = count - 1
    store_before = dashboard.settled()
    with dashboard.client("read") as client:
        response = client.post(
            "/dashboard/api/explain/late-event",
            json={"shipment_id": shipment_id, "position": position, "event_type": "exception"},
        )
        timeline_after = client.get(f"/dashboard/api/shipments/{shipment_id}").json()["timeline"]
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["simulated"] is True
    assert len(data["after"]) == count + 1
    # The copy's timeline is the stored one; the stored one is as it was.
    assert [contract(row) for row in data["before"]] == [contract(row) for row in timeline_after]
    assert len(timeline_after) == count
    run = data["run"]
    assert run["process_type"] == "incremental" and run["events"] >= 1
    assert run["rows_written"] < run["full_recompute_rows"]
    verdicts = {row["event_sequence"]: row for row in data["rows"]}
    assert verdicts[position]["verdict"] == "new"
    predecessor = verdicts[position - 1]
    assert predecessor["verdict"] == "rewritten"
    assert {"next_event_timestamp", "status_duration"} <= set(predecessor["changes"])
    for sequence in range(position + 1, count + 2):
        moved = verdicts[sequence]
        assert moved["verdict"] == "rewritten"
        assert moved["changes"]["event_sequence"] == {"before": sequence - 1, "after": sequence}
    assert all(verdicts[s]["verdict"] == "kept" for s in range(1, position - 1))
    assert data["cost"]["store_full_recompute_rows"] == store_before["checkpoint"]["view_rows"] + 1
    store_after = dashboard.settled()
    for count_of in ("events", "base_rows", "incremental_rows", "newest_ingest_seq"):
        assert store_after[count_of] == store_before[count_of], count_of


def test_late_event_refusals(dashboard: Dashboard) -> None:
    with dashboard.client("read") as client:
        shipment_id = client.get("/dashboard/api/shipments").json()["shipments"][0]["shipment_id"]
    with dashboard.client("read") as client:
        too_far = client.post(
            "/dashboard/api/explain/late-event",
            json={"shipment_id": shipment_id, "position": 10_000},
        )
        assert too_far.status_code == 400
        assert "choose 1 to" in too_far.json()["error"]["message"]
        unknown = client.post(
            "/dashboard/api/explain/late-event", json={"shipment_id": "NOPE", "position": 1}
        )
        assert unknown.status_code == 404


def test_a_simulated_replay_recomputes_the_shipment_whole(dashboard: Dashboard) -> None:
    store_before = dashboard.settled()
    with dashboard.client("read") as client:
        shipment_id = client.get("/dashboard/api/shipments").json()["shipments"][0]["shipment_id"]
        response = client.post(
            "/dashboard/api/explain/recovery",
            json={"shipment_id": shipment_id, "mode": "replay", "position": 1},
        )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["run"]["process_type"] == "incremental"
    assert data["run"]["shipments_affected"] >= 1
    assert {row["verdict"] for row in data["rows"]} <= {"recomputed", "rewritten"}
    assert [row["event_id"] for row in data["before"]] == [row["event_id"] for row in data["after"]]
    assert dashboard.settled()["checkpoint"] == store_before["checkpoint"]


def test_a_simulated_rebuild_rewrites_the_shipment_in_full(dashboard: Dashboard) -> None:
    store_before = dashboard.settled()
    with dashboard.client("read") as client:
        shipment_id = client.get("/dashboard/api/shipments").json()["shipments"][0]["shipment_id"]
        response = client.post(
            "/dashboard/api/explain/recovery", json={"shipment_id": shipment_id, "mode": "rebuild"}
        )
    assert response.status_code == 200, response.text
    data = response.json()
    run = data["run"]
    assert run["process_type"] == "daily_base"
    assert run["rows_written"] == run["full_recompute_rows"] > 0
    assert data["cost"]["saved_ratio"] == 0
    assert {row["verdict"] for row in data["rows"]} == {"recomputed"}
    assert all(row["changes"] == {} for row in data["rows"])
    assert run["rows_written"] == len(data["after"])  # one shipment, not the store
    assert dashboard.settled()["checkpoint"] == store_before["checkpoint"]


def test_an_empty_store_answers_with_empty_lists(empty_dashboard: Dashboard) -> None:
    with empty_dashboard.client() as client:
        pipeline = client.get("/dashboard/api/pipeline").json()
        assert pipeline["status"]["events"] == 0
        assert pipeline["runs"] == [] and pipeline["dead_letters"] == [] and pipeline["loads"] == []
        assert pipeline["stages"]["sources"] == []
        shipments = client.get("/dashboard/api/shipments", params={"q": "S"}).json()
        assert shipments["shipments"] == [] and shipments["regions"] == []
        metrics = client.get("/dashboard/api/metrics").json()
        assert metrics["series"]["per_minute"] == [] and metrics["series"]["runs"] == []


def test_performance_gives_kpis_per_group_and_the_stuck_shipments(dashboard: Dashboard) -> None:
    status = dashboard.settled()
    with dashboard.client("read") as client:
        by_carrier = client.get("/dashboard/api/performance").json()
        by_lane = client.get("/dashboard/api/performance", params={"by": "lane"}).json()
        wrong = client.get("/dashboard/api/performance", params={"by": "colour"})
    assert by_carrier["kpis"]["by"] == "carrier" and by_lane["kpis"]["by"] == "lane"
    (overall,) = by_carrier["overall"]
    assert overall["shipments"] == sum(g["shipments"] for g in by_carrier["kpis"]["groups"])
    assert overall["shipments"] <= status["shipments"]
    assert all(" h since " in shipment["reason"] for shipment in by_carrier["stuck"])
    assert len(by_carrier["stuck"]) <= by_carrier["stuck_shown"]
    assert wrong.status_code == 422 and "by" in wrong.text
