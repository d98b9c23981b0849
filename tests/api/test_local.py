"""``/v1/local``: the server's pipeline for its own user's CLI, and for nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipline.api import wire
from shipline.server.discovery import local_credential
from shipline.timeline.query import Status
from tests.api.conftest import Running


@pytest.fixture(scope="module")
def local(server: Running) -> Iterator[httpx.Client]:
    """A client with the server's local credential."""
    token, key = local_credential()
    server.app.state.services.keys.add_local(token, key)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def call(client: httpx.Client, operation: str, *args: object, **kwargs: object) -> httpx.Response:
    body = wire.dumps({"args": list(args), "kwargs": kwargs})
    return client.post(f"/v1/local/{operation}", content=body)


def test_the_local_credential_calls_the_servers_pipeline(local: httpx.Client) -> None:
    answer = call(local, "status")
    assert answer.status_code == 200
    assert isinstance(wire.loads(answer.content), Status)


def test_an_admin_key_that_is_not_the_local_credential_is_refused(
    server: Running, local: httpx.Client
) -> None:
    with server.client("admin") as admin:
        answer = call(admin, "status")
    assert answer.status_code == 403
    assert "server's own user" in answer.json()["error"]["message"]


def test_only_the_pipelines_listed_operations_are_reachable(local: httpx.Client) -> None:
    assert call(local, "close").status_code == 404
    assert call(local, "key_snapshot").status_code == 404


def test_a_path_must_be_absolute_and_readable(local: httpx.Client, tmp_path: Path) -> None:
    relative = call(local, "ingest_files", [Path("events.ndjson")])
    assert relative.status_code == 400
    assert "absolute path" in relative.json()["error"]["message"]
    missing = call(local, "ingest_files", [tmp_path / "missing.ndjson"])
    assert missing.status_code == 400
    assert "not readable by the server" in missing.json()["error"]["message"]


def test_a_key_revoked_through_it_is_refused_at_once(server: Running, local: httpx.Client) -> None:
    new = wire.loads(call(local, "create_key", "read", None, None).content)
    headers = {"Authorization": f"Bearer {new.key}"}
    assert httpx.get(server.url + "/v1/status", headers=headers).status_code == 200
    assert call(local, "revoke_key", new.key_id).status_code == 200
    assert httpx.get(server.url + "/v1/status", headers=headers).status_code == 401


def test_an_error_keeps_its_kind(local: httpx.Client) -> None:
    answer = call(local, "summary", "NO-SUCH-SHIPMENT")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NotFoundError"
