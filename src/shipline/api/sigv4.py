"""AWS Signature Version 4 checks for the AWS JSON protocol endpoint.

The expected signature is recomputed with botocore's own signer
(``botocore.auth.SigV4Auth``), over exactly the headers the client signed, keyed
by the secret of the API key whose id is the access key id.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipline.store.keys import ApiKey

SERVICE = "events"
MAX_SKEW = timedelta(minutes=15)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


class SigV4Error(Exception):
    """A request whose signature does not hold: AWS's error type and HTTP status."""

    def __init__(self, aws_type: str, status: int, message: str) -> None:
        super().__init__(message)
        self.aws_type = aws_type
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    """What a signature check needs from an HTTP request."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


class _Verifier(SigV4Auth):
    def __init__(self, credentials: Credentials, region: str, signed: list[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> object:  # type: ignore[override]
        headers = super().headers_to_sign(request)
        for name in list(headers.keys()):
            if name not in self._signed:
                del headers[name]
        return headers


def verify(
    request: SignedRequest,
    lookup: Callable[[str], tuple[ApiKey, str] | None],
    now: datetime | None = None,
) -> ApiKey:
    """The key that signed ``request``; SigV4Error if the signature does not hold."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise SigV4Error("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
    match = _AUTH_RE.match(authorization.strip())
    if match is None:
        raise SigV4Error(
            "IncompleteSignatureException",
            400,
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'"
            " with AWS4-HMAC-SHA256.",
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[3] != SERVICE or parts[4] != "aws4_request":
        raise SigV4Error(
            "IncompleteSignatureException",
            400,
            f"Credential should be scoped to a valid region and service '{SERVICE}'.",
        )
    key_id, day, region = parts[0], parts[1], parts[2]
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise SigV4Error(
            "IncompleteSignatureException", 400, "X-Amz-Date: missing or not YYYYMMDDTHHMMSSZ"
        ) from error
    if amz_date[:8] != day:
        raise SigV4Error("InvalidSignatureException", 403, "Credential date does not match")
    current = now or datetime.now(UTC)
    if abs(current - signed_at) > MAX_SKEW:
        raise SigV4Error(
            "InvalidSignatureException",
            403,
            f"Signature expired: {amz_date} is now earlier or later than 15 minutes from"
            f" {current:%Y%m%dT%H%M%SZ}.",
        )
    found = lookup(key_id)
    if found is None:
        raise SigV4Error(
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid.",
        )
    key, secret = found
    signed = match["signed"].split(";")
    if "host" not in signed:
        raise SigV4Error("InvalidSignatureException", 403, "SignedHeaders must include host")
    url = f"http://{headers.get('host', '')}{request.path}"
    if request.query:
        url += "?" + request.query
    aws_request = AWSRequest(
        method=request.method,
        url=url,
        data=request.body,
        headers={name: value for name, value in headers.items() if name in signed},
    )
    aws_request.context["timestamp"] = amz_date
    verifier = _Verifier(Credentials(key_id, secret), region, signed)
    expected = verifier.signature(
        verifier.string_to_sign(aws_request, verifier.canonical_request(aws_request)),
        aws_request,
    )
    if not hmac.compare_digest(expected, match["signature"]):
        raise SigV4Error(
            "InvalidSignatureException",
            403,
            "The request signature we calculated does not match the signature you provided."
            " Check your AWS Secret Access Key and signing method.",
        )
    return key
