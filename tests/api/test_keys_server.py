"""API keys against a real server: what an attacker tries, and what a client sees.

Malformed and made-up keys, revocation and expiry seen within seconds, the admin
key endpoints, and SigV4: one region, no replay, the signature before the body.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipline.api.keys import KeyCache
from shipline.store.keys import NewKey
from tests.api.conftest import Running, wait_for


def cache(server: Running) -> KeyCache:
    found: KeyCache = server.app.state.services.keys
    return found


def status_as(server: Running, key: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return client.get("/v1/status", headers={"Authorization": f"Bearer {key}"})


def made_up_key() -> str:
    return "shpl_" + secrets.token_urlsafe(32)


def test_a_malformed_key_is_refused_without_looking_it_up(server: Running) -> None:
    before = cache(server).refreshes
    malformed = ["x", "shpl_", "shpl_" + "a" * 42, "shpl_" + "a" * 44, "shpl_" + "~" * 43]
    malformed += ["Bearer", "shpl_" + "a" * 42 + "*", "A" * 4000]
    for key in malformed * 10:
        answer = status_as(server, key)
        assert answer.status_code == 401
    assert cache(server).refreshes == before
    assert cache(server).refusal(malformed[0])[1].startswith("not a shipline API key")


def test_a_flood_of_made_up_keys_costs_a_few_reads_a_second(server: Running) -> None:
    before = cache(server).refreshes
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda _: status_as(server, made_up_key()), range(300)))
    elapsed = time.monotonic() - started
    assert {answer.status_code for answer in answers} == {401}
    # one read per 0.5 s for misses, one per 2 s for freshness, and one in flight
    assert cache(server).refreshes - before <= 2 + elapsed / 0.5 + elapsed / 2
    assert status_as(server, server.keys["read"].key).status_code == 200


def test_a_key_made_or_revoked_beside_the_server_is_seen_within_seconds(
    server: Running,
) -> None:
    new = server.pipeline.create_key("read", "made by `shipline keys create`")
    assert status_as(server, new.key).status_code == 200
    server.pipeline.revoke_key(new.key_id)
    started = time.monotonic()
    refused = wait_for(lambda: (a := status_as(server, new.key)).status_code == 401 and a, 5)
    assert time.monotonic() - started < 3
    assert refused.status_code == 401
    code, message = cache(server).refusal(new.key)
    assert code == "key_revoked" and new.key_id in message


def test_an_expired_key_is_refused_with_its_reason(server: Running) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    new = server.pipeline.create_key("read", expires_at=soon)
    assert status_as(server, new.key).status_code == 200
    wait_for(lambda: status_as(server, new.key).status_code == 401, 5)
    code, message = cache(server).refusal(new.key)
    assert code == "key_expired" and f"API key {new.key_id} expired at" in message
    # over SigV4 the same key gets AWS's own answer
    answer = put(server, EMPTY, signed_headers(server, new, EMPTY))
    assert answer.status_code == 400 and answer.json()["__type"] == "ExpiredTokenException"


def test_admin_endpoints_create_list_rotate_and_revoke_keys(server: Running) -> None:
    with server.client("admin") as admin:
        made = admin.post(
            "/v1/admin/keys",
            json={"scope": "ingest", "description": "scanner 7", "expires_in": "30d"},
        )
        assert made.status_code == 201, made.text
        created = made.json()
        assert created["scope"] == "ingest" and created["key"].startswith("shpl_")
        expires = datetime.fromisoformat(created["expires_at"])
        assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
        assert status_as(server, created["key"]).status_code == 403  # ingest, not read

        listed = admin.get("/v1/admin/keys")
        assert listed.status_code == 200
        rows = {row["id"]: row for row in listed.json()["keys"]}
        assert rows[created["id"]]["description"] == "scanner 7"
        assert rows[created["id"]]["state"] == "active"
        assert all("key" not in row for row in rows.values())
        assert all(key.key not in listed.text for key in server.keys.values())
        assert created["key"] not in listed.text

        rotated = admin.post(f"/v1/admin/keys/{created['id']}/rotate", json={"grace": "1h"})
        assert rotated.status_code == 201, rotated.text
        successor = rotated.json()
        assert successor["replaces"] == created["id"] and successor["scope"] == "ingest"
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for key in (created["key"], successor["key"]):
                answer = client.post(
                    "/v1/events", json=[], headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200, answer.text
        old = {row["id"]: row for row in admin.get("/v1/admin/keys").json()["keys"]}
        assert old[created["id"]]["rotated_to"] == successor["id"]

        now = admin.post(f"/v1/admin/keys/{successor['id']}/rotate", json={"grace": "0s"})
        assert now.status_code == 201
        expired = status_as(server, successor["key"])
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "key_expired"  # the client hears why

        revoked = admin.delete(f"/v1/admin/keys/{created['id']}")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        refused = status_as(server, created["key"])
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "key_revoked"
        assert "was revoked at" in refused.json()["error"]["message"]


def test_admin_endpoints_refuse_bad_requests_and_other_scopes(server: Running) -> None:
    with server.client("admin") as admin:
        assert admin.post("/v1/admin/keys", json={"scope": "root"}).status_code == 400
        bad = admin.post("/v1/admin/keys", json={"scope": "read", "expires_in": "1y"})
        assert bad.status_code == 400 and "expires_in" in bad.text
        past = admin.post("/v1/admin/keys", json={"scope": "read", "expires_at": "2020-01-01Z"})
        assert past.status_code == 400
        assert admin.delete("/v1/admin/keys/SHPL0000000000000000").status_code == 404
        assert admin.post("/v1/admin/keys/SHPL0000000000000000/rotate").status_code == 404
    for scope in ("read", "ingest"):
        with server.client(scope) as other:
            assert other.get("/v1/admin/keys").status_code == 403
            assert other.post("/v1/admin/keys", json={"scope": "admin"}).status_code == 403
    with server.client(None) as anonymous:
        assert anonymous.get("/v1/admin/keys").status_code == 401
        victim = server.keys["read"].key_id
        assert anonymous.delete(f"/v1/admin/keys/{victim}").status_code == 401


# SigV4 ---


def signed_headers(
    server: Running,
    key: NewKey,
    body: bytes,
    region: str = "us-east-1",
    sign_payload: bool = False,
) -> dict[str, str]:
    """The headers of a PutEvents request signed as botocore signs it."""
    headers = {
        "X-Amz-Target": "AWSEvents.PutEvents",
        "Content-Type": "application/x-amz-json-1.1",
        "Host": server.url.removeprefix("http://"),
    }
    if sign_payload:
        headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(key.key_id, key.key), "events", region).add_auth(request)
    return dict(request.headers.items())


def put(server: Running, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return client.post("/", content=body, headers=headers)


EMPTY = json.dumps({"Entries": []}).encode()


def test_sigv4_is_pinned_to_the_servers_region(server: Running) -> None:
    for region in ("x", "mars-1", "eu-west-1"):
        answer = put(server, EMPTY, signed_headers(server, server.keys["admin"], EMPTY, region))
        assert answer.status_code == 403
        assert answer.json()["__type"] == "InvalidSignatureException"
        assert f"not '{region}'" in answer.json()["message"]
    assert put(server, EMPTY, signed_headers(server, server.keys["admin"], EMPTY)).is_success


def test_a_signed_request_is_accepted_once(server: Running) -> None:
    for sign_payload in (False, True):
        headers = signed_headers(server, server.keys["ingest"], EMPTY, sign_payload=sign_payload)
        assert put(server, EMPTY, headers).status_code == 200
        replayed = put(server, EMPTY, headers)
        assert replayed.status_code == 403
        assert replayed.json()["__type"] == "InvalidSignatureException"
        assert "already used" in replayed.json()["message"]


def test_a_signed_payload_hash_must_match_the_body(server: Running) -> None:
    signed = json.dumps({"Entries": [], "Note": "signed"}).encode()
    headers = signed_headers(server, server.keys["ingest"], signed, sign_payload=True)
    other = json.dumps({"Entries": [{"Source": "x"}]}).encode()
    answer = put(server, other, headers)
    assert answer.status_code == 400, answer.text
    assert "x-amz-content-sha256" in answer.json()["message"]
    unsigned = signed_headers(server, server.keys["admin"], EMPTY, sign_payload=True)
    unsigned["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    assert put(server, EMPTY, unsigned).status_code in (400, 403)


def answer_before_the_body(server: Running, headers: dict[str, str], length: int) -> str:
    """The status line the server sends while the promised body has not been sent."""
    host, port = server.url.removeprefix("http://").split(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\n{head}Content-Length: {length}\r\n\r\n".encode())
        sock.sendall(b"{")
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_a_bad_signature_is_refused_before_the_body_is_read(server: Running) -> None:
    body = b"{" + b" " * 200_000 + b"}"
    forged: dict[str, Any] = signed_headers(server, server.keys["ingest"], body, sign_payload=True)
    forged["Authorization"] = forged["Authorization"][:-8] + "00000000"
    assert "403" in answer_before_the_body(server, forged, len(body))
    stranger = NewKey(key_id="SHPL" + "0" * 16, key=made_up_key(), scope="ingest")
    unknown = signed_headers(server, stranger, body)  # payload not signed: still refused early
    assert "400" in answer_before_the_body(server, unknown, len(body))
