"""The API's answers to abuse, over a real ``shipline serve``: bounded errors and
listings, security headers, rate limits, a cached ``/metrics``, and the audit log."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shipline.ingest.dead_letters import DeadLetter, record_dead_letters
from shipline.pipeline import Pipeline
from shipline.store.audit import AuditEntry, list_audit, record_audit
from tests.api.test_security_serve import ServedProcess, shipline_serve
from tests.conftest import Shipline


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProcess]:
    """One server for this module, with the default limits."""
    with shipline_serve(tmp_path_factory.mktemp("api")) as running:
        yield running


def client(served: ServedProcess, scope: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=served.url, headers=served.headers(scope), timeout=30)


def event(shipment: str, **fields: object) -> dict[str, object]:
    return {
        "shipment_id": shipment,
        "event_timestamp": "2026-11-01T10:00:00Z",
        "event_type": "created",
        **fields,
    }


def test_a_7_mb_event_type_is_quoted_not_copied(served: ServedProcess) -> None:
    huge = "x" * (7 * 1024 * 1024)
    with client(served) as admin:
        posted = admin.post("/v1/events", json=[event("HUGE-1", event_type=huge)])
        assert posted.status_code == 200
        assert len(posted.content) < 10_000
        (record,) = posted.json()["records"]
        assert record["outcome"] == "rejected"
        letter = admin.get(f"/v1/dead-letters/{record['dead_letter_id']}").json()
        assert len(letter["payload"]) > len(huge)  # the record itself is kept whole
        assert len(letter["reason"]) < 1000
        assert letter["reason"].startswith("event_type: unknown value")
        assert sum(len(error) for error in letter["errors"]) < 2000
        listed = admin.get("/v1/dead-letters", params={"limit": 1000})
        assert len(listed.content) < 100_000
        shown = next(d for d in listed.json() if d["dead_letter_id"] == record["dead_letter_id"])
        assert len(shown["payload"]) == 2000
        assert shown["payload_chars"] == len(letter["payload"])
        overview = admin.get("/dashboard/api/pipeline")
        assert overview.status_code == 200
        assert len(overview.content) < 100_000  # it was 14 MB


def test_listings_and_id_lists_are_capped_with_the_cap_named(served: ServedProcess) -> None:
    with client(served) as admin:
        listed = admin.get("/v1/dead-letters", params={"limit": 10_000})
        assert listed.status_code == 422
        assert "1000" in listed.text
        redrive = admin.post("/v1/dead-letters/redrive", json={"ids": list(range(1, 200_001))})
        assert redrive.status_code == 422
        assert "1000" in redrive.text
        purge = admin.post("/v1/dead-letters/purge", json={"ids": list(range(1, 1002))})
        assert purge.status_code == 422


def test_dead_letters_page_on_with_before_id(served: ServedProcess) -> None:
    with client(served) as admin:
        admin.post("/v1/events", json=[event(f"PAGE-{i}", event_type="nope") for i in range(5)])
        first = admin.get("/v1/dead-letters", params={"limit": 2}).json()
        after = admin.get(
            "/v1/dead-letters", params={"limit": 2, "before_id": first[-1]["dead_letter_id"]}
        ).json()
        assert len(first) == len(after) == 2
        assert after[0]["dead_letter_id"] < first[-1]["dead_letter_id"]


def test_a_body_the_route_parses_is_checked_for_scope_first(served: ServedProcess) -> None:
    with client(served, "read") as reader:
        refused = reader.post("/v1/dead-letters/purge", content=b"not json at all")
        assert refused.status_code == 403  # not 422: the body was never parsed
    with client(served) as admin:
        invalid = admin.post("/v1/dead-letters/purge", content=b"not json at all")
        assert invalid.status_code == 422
        assert invalid.json()["detail"]


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_pages_and_answers_carry_security_headers(served: ServedProcess) -> None:
    with client(served) as admin:
        page = admin.get("/")
        docs = admin.get("/docs")
        for path in ("/v1/status", "/dashboard/static/dashboard.js", "/healthz", "/nowhere"):
            answer = admin.get(path)
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
    for answer in (page, docs):
        assert answer.status_code == 200
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    docs_policy = docs.headers["content-security-policy"]
    (inline,) = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.S)
    assert _hash(inline) in docs_policy
    assert "unsafe-inline" not in docs_policy


def test_metrics_are_a_snapshot_refreshed_every_few_seconds(served: ServedProcess) -> None:
    scraper = httpx.Client(base_url=served.url, timeout=10)

    def newest() -> float:
        text = scraper.get("/metrics").text
        (value,) = re.findall(r"^shipline_newest_ingest_seq (\S+)$", text, flags=re.M)
        return float(value)

    with scraper, client(served) as admin:
        before = newest()
        started = time.monotonic()
        assert admin.post("/v1/events", json=[event("METRICS-1")]).json()["accepted"] == 1
        scrapes = [newest() for _ in range(20)]
        if time.monotonic() - started < 4:  # within the snapshot's age: no new query
            assert scrapes == [before] * 20
        time.sleep(5.5)
        assert newest() > before


def test_rate_limits_per_key_and_per_address(tmp_path: Path) -> None:
    env = {
        "SHIPLINE_API_RATE_LIMIT_PER_KEY": "5",
        "SHIPLINE_API_RATE_LIMIT_PER_ADDRESS": "20",
        "SHIPLINE_API_RATE_LIMIT_BURST_SECONDS": "1",
    }
    with shipline_serve(tmp_path, env=env) as running, httpx.Client(timeout=10) as http:
        answers = [
            http.get(running.url + "/v1/status", headers=running.headers("read")) for _ in range(10)
        ]
        limited = [a for a in answers if a.status_code == 429]
        assert limited, "a key over 5 requests/s is refused"
        assert int(limited[0].headers["retry-after"]) >= 1
        assert limited[0].json()["error"]["code"] == "rate_limited"
        other_key = http.get(running.url + "/v1/status", headers=running.headers("admin"))
        assert other_key.status_code == 200
        time.sleep(1.2)
        assert http.get(running.url + "/v1/status", headers=running.headers("read")).is_success
        # One address (as a trusted proxy names it) over 20 requests/s, whatever the key.
        crowd = {"X-Forwarded-For": "203.0.113.9"}
        flood = [http.get(running.url + "/healthz", headers=crowd) for _ in range(40)]
        assert any(a.status_code == 429 for a in flood)
        elsewhere = http.get(running.url + "/healthz", headers={"X-Forwarded-For": "198.51.100.1"})
        assert elsewhere.status_code == 200


def test_every_data_request_leaves_an_audit_row(tmp_path: Path) -> None:
    with shipline_serve(tmp_path) as running:
        reader_id = running.keys["read"].key_id
        with client(running, "ingest") as ingest:
            assert ingest.post("/v1/events", json=[event("AUDIT-1")]).status_code == 200
        with client(running, "read") as reader:
            time.sleep(0.5)
            reader.get("/v1/shipments/AUDIT-1/timeline")
            assert reader.post("/v1/dead-letters/purge", json={"ids": [1]}).status_code == 403
        httpx.get(running.url + "/v1/status", headers={"Authorization": "Bearer shpl_wrong"})
        httpx.get(running.url + "/healthz")  # not a data route: no row
        running.process.terminate()  # the writer stores what is queued on the way out
        assert running.process.wait(30) == 0
        rows = audit_list(running.database, tmp_path)
        mine = audit_list(running.database, tmp_path, "--key", reader_id, "--since", "2000-01-01")
    actions = {(row["actor"], row["action"], row["subject"], row["status"]) for row in rows}
    assert (running.keys["ingest"].key_id, "POST /v1/events", None, 200) in actions
    assert (reader_id, "GET /v1/shipments/{shipment_id:path}/timeline", "AUDIT-1", 200) in actions
    assert (reader_id, "POST /v1/dead-letters/purge", None, 403) in actions
    assert ("anonymous", "GET /v1/status", None, 401) in actions
    (ingested,) = [row for row in rows if row["action"] == "POST /v1/events"]
    assert "received=1 accepted=1 duplicates=0 rejected=0" in str(ingested["detail"])
    assert not any("/healthz" in row["action"] for row in rows)
    assert all(row["client"] == "127.0.0.1" for row in rows)
    assert {row["actor"] for row in mine} == {reader_id}


def audit_list(database: str, folder: Path, *options: str) -> list[dict[str, object]]:
    """``shipline audit list --json OPTIONS`` over ``database``."""
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipline.cli",
            "--database",
            database,
            "audit",
            "list",
            "--json",
            *list(options),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SHIPLINE_CONFIG": str(folder / "none.toml")},
    )
    rows: list[dict[str, object]] = json.loads(listed.stdout)
    return rows


def test_retention_removes_audit_rows_past_retention_days(pipeline: Pipeline) -> None:
    now = datetime.now(UTC)
    old = AuditEntry(now - timedelta(days=731), "SHPLOLD", "GET /v1/status", 200)
    recent = AuditEntry(now - timedelta(days=1), "SHPLNEW", "GET /v1/status", 200)
    record_audit(pipeline.backend, [old, recent])
    pipeline.apply_retention(dry_run=True)
    assert len(list_audit(pipeline.backend)) == 2  # a dry run removes nothing
    pipeline.apply_retention()
    assert [row["actor"] for row in list_audit(pipeline.backend)] == ["SHPLNEW"]


def test_cli_commands_that_read_or_change_data_leave_an_audit_row(shipline: Shipline) -> None:
    assert shipline("init").returncode == 0
    assert shipline("retention", "apply", "--dry-run").returncode == 0
    assert shipline("dlq", "purge", "999").returncode == 0  # nothing to purge: still recorded
    assert shipline("status").returncode == 0  # a read is data access too
    assert shipline("timeline", "NOPE").returncode == 4  # and so is a failed one
    assert shipline("--version").returncode == 0  # no data: no row
    listed = shipline("audit", "list", "--json")
    rows = json.loads(listed.stdout)
    seen = [(row["action"], row["subject"], row["status"]) for row in reversed(rows)]
    assert seen == [
        ("cli: init", None, 0),
        ("cli: retention apply", "--dry-run", 0),
        ("cli: dlq purge", "999", 0),
        ("cli: status", None, 0),
        ("cli: timeline", "NOPE", 4),
    ]
    assert {row["actor"] for row in rows} == {f"cli:{getpass.getuser()}"}


def test_every_stored_reason_is_bounded_whoever_built_it(pipeline: Pipeline) -> None:
    letter = DeadLetter("test", "x" * 100, "reason " + "y" * 1_000_000, ["e" * 10_000] * 500)
    (stored_id,) = record_dead_letters(pipeline.backend, [letter])
    stored = pipeline.dead_letter(stored_id)
    assert len(stored["reason"]) < 2100
    assert stored["reason"].endswith("more characters)")
    assert len(stored["errors"]) == 50
    assert all(len(error) < 500 for error in stored["errors"])
