"""The AWS JSON protocol: an unchanged boto3 ``events`` client, SigV4-signed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.api.conftest import Running, wait_for


def events_client(server: Running, key_id: str, secret: str) -> Any:
    """A boto3 EventBridge client pointed at the server."""
    return boto3.client(
        "events",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def detail(shipment_id: str, hour: int, event_type: str) -> str:
    return json.dumps(
        {
            "shipment_id": shipment_id,
            "event_timestamp": f"2026-11-21T{hour:02d}:00:00Z",
            "event_type": event_type,
        }
    )


def test_boto3_put_events_with_a_good_signature(server: Running) -> None:
    s = "AWS-" + uuid.uuid4().hex[:10]
    key = server.keys["ingest"]
    client = events_client(server, key.key_id, key.key)
    response = client.put_events(
        Entries=[
            {
                "Source": "shipment.service",
                "DetailType": "shipment.created",
                "Detail": detail(s, 1, "created"),
                "EventBusName": "shipments",
            },
            {
                "Source": "shipment.service",
                "DetailType": "shipment.picked_up",
                "Detail": detail(s, 2, "picked_up"),
            },
            {"Source": "billing", "DetailType": "invoice.paid", "Detail": "{}"},
            {
                "Source": "shipment.service",
                "DetailType": "shipment.update",
                "Detail": json.dumps({"shipment_id": s, "event_type": "warp"}),
            },
        ]
    )
    assert response["FailedEntryCount"] == 1
    entries = response["Entries"]
    assert all("EventId" in entries[i] for i in range(3))
    assert entries[3]["ErrorCode"] == "InvalidArgument"

    def rows() -> list[Any] | None:
        with server.client("read") as reader:
            answer = reader.get(f"/v1/shipments/{s}/timeline")
        return answer.json()["timeline"] if answer.status_code == 200 else None

    found = wait_for(lambda: (r := rows()) is not None and len(r) == 2 and r)
    assert [row["event_type"] for row in found] == ["created", "picked_up"]


def test_boto3_with_a_bad_signature_is_refused(server: Running) -> None:
    key = server.keys["ingest"]
    client = events_client(server, key.key_id, key.key + "x")
    with pytest.raises(ClientError) as caught:
        client.put_events(
            Entries=[{"Source": "shipment.service", "DetailType": "shipment.x", "Detail": "{}"}]
        )
    error = caught.value.response
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature" in error["Error"]["Message"]


def test_boto3_with_an_unknown_key_or_scope(server: Running) -> None:
    entries = [{"Source": "shipment.service", "DetailType": "shipment.x", "Detail": "{}"}]
    unknown = events_client(server, "SHPLUNKNOWN", "whatever")
    with pytest.raises(ClientError) as caught:
        unknown.put_events(Entries=entries)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    reader = server.keys["read"]
    with pytest.raises(ClientError) as caught:
        events_client(server, reader.key_id, reader.key).put_events(Entries=entries)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_tampered_body_or_missing_signature_is_refused(server: Running) -> None:
    key = server.keys["admin"]
    body = json.dumps({"Entries": []}).encode()
    host = server.url.removeprefix("http://")
    request = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=body,
        headers={
            "X-Amz-Target": "AWSEvents.PutEvents",
            "Content-Type": "application/x-amz-json-1.1",
            "Host": host,
        },
    )
    SigV4Auth(Credentials(key.key_id, key.key), "events", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    with httpx.Client(base_url=server.url) as client:
        good = client.post("/", content=body, headers=headers)
        assert good.status_code == 200, good.text
        assert good.json() == {"FailedEntryCount": 0, "Entries": []}
        tampered = client.post("/", content=body.replace(b"[]", b"[ ]"), headers=headers)
        assert tampered.status_code == 403
        assert tampered.json()["__type"] == "InvalidSignatureException"
        unsigned = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        missing = client.post("/", content=body, headers=unsigned)
        assert missing.status_code == 403
        assert missing.json()["__type"] == "MissingAuthenticationTokenException"
        other = client.post("/", content=body, headers={**headers, "X-Amz-Target": "AWSEvents.X"})
        assert other.status_code == 400
        assert other.json()["__type"] == "UnknownOperationException"
