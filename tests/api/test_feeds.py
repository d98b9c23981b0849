"""Industry formats over HTTP, as their producers send them: ``/v1/feeds/{format}``
with an ingest key, and providers' webhooks with their own signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipline.events.formats import FORMATS
from tests.api.conftest import Running, api_settings, serve, wait_for
from tests.engines import fresh_database

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRET = "whsec-test ünïcode"


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A server whose EasyPost and Shippo webhooks are configured."""
    sources = {"easypost": {"webhook_secret": SECRET}, "shippo": {"webhook_secret": "tok-1"}}
    with fresh_database(engine) as database:
        folder = tmp_path_factory.mktemp("feeds")
        yield from serve(api_settings(database, folder, sources=sources))


def test_an_x12_interchange_is_posted_as_edi_text(server: Running) -> None:
    edi = (FIXTURES / "x12" / "x12-214-canadapost-19.edi").read_bytes()
    with server.client("ingest") as client:
        first = client.post("/v1/feeds/x12", content=edi, headers={"Content-Type": "text/plain"})
        again = client.post("/v1/feeds/x12", content=edi, headers={"Content-Type": "text/plain"})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["received"], answer["accepted"], answer["rejected"]) == (19, 18, 1)
    # The one status with a local time and no known zone is a dead letter that says
    # where its time came from and how to place it; the 18 others are kept.
    [refused] = [r for r in answer["records"] if r["outcome"] == "rejected"]
    [reason] = refused["errors"]
    assert reason.startswith("event_timestamp (AT7-05/AT7-06/AT7-07)")
    assert "timezone" in reason
    # The whole file sent again changes nothing.
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 18)


def test_a_feed_needs_an_ingest_key_and_a_format_shipline_reads(server: Running) -> None:
    page = (FIXTURES / "dcsa" / "dcsa-tnt300-response.json").read_bytes()
    with server.client(None) as anonymous:
        assert anonymous.post("/v1/feeds/dcsa", content=page).status_code == 401
    with server.client("read") as reader:
        assert reader.post("/v1/feeds/dcsa", content=page).status_code == 403
    with server.client("ingest") as client:
        unknown = client.post("/v1/feeds/edifact", content=page)
        not_x12 = client.post("/v1/feeds/x12", content=page)
        accepted = client.post("/v1/feeds/dcsa", content=page)
    assert unknown.status_code == 404
    assert all(name in unknown.json()["error"]["message"] for name in FORMATS)
    assert not_x12.status_code == 400, not_x12.text
    assert accepted.status_code == 200
    assert accepted.json()["references"] == 2
    assert accepted.json()["skipped"]["dcsa REEFER event (not a movement)"] == 1


def easypost_signature(body: bytes, secret: str = SECRET) -> str:
    import unicodedata

    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_an_easypost_webhook_is_taken_when_signed_and_its_resends_are_duplicates(
    server: Running,
) -> None:
    body = (FIXTURES / "aggregators" / "easypost-tracker-updated-event.json").read_bytes()
    tracking_code = json.loads(body)["result"]["tracking_code"]
    with server.client(None) as provider:
        signed = {"X-Hmac-Signature": easypost_signature(body)}
        first = provider.post("/v1/webhooks/easypost", content=body, headers=signed)
        resent = provider.post("/v1/webhooks/easypost", content=body, headers=signed)
        forged = provider.post(
            "/v1/webhooks/easypost",
            content=body.replace(b"in_transit", b"delivered"),
            headers=signed,
        )
        unsigned = provider.post("/v1/webhooks/easypost", content=body)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] > 0
    assert resent.json()["accepted"] == 0
    assert resent.json()["duplicates"] == first.json()["accepted"]
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert "x-hmac-signature" in forged.json()["error"]["message"]
    server.pipeline.incremental()
    rows = wait_for(lambda: server.pipeline.timeline(tracking_code))
    assert len(rows) == first.json()["accepted"]


def test_an_unsigned_provider_brings_the_token_and_others_are_not_open(server: Running) -> None:
    body = (FIXTURES / "aggregators" / "shippo-track-usps-get-status.json").read_bytes()
    with server.client(None) as provider:
        taken = provider.post("/v1/webhooks/shippo?token=tok-1", content=body)
        wrong = provider.post("/v1/webhooks/shippo?token=tok-2", content=body)
        closed = provider.post("/v1/webhooks/aftership", content=b"{}")
    assert taken.status_code == 200, taken.text
    assert taken.json()["rejected"] == 0
    assert wrong.status_code == 401
    assert closed.status_code == 404
    assert "[sources.aftership] webhook_secret" in closed.json()["error"]["message"]
