"""AWS Signature Version 4 checks for the AWS JSON protocol endpoint.

The expected signature is recomputed with botocore's own signer
(``botocore.auth.SigV4Auth``), over exactly the headers the client signed, keyed
by the secret of the API key whose id is the access key id. The credential must be
scoped to the one region the server is set to (``sigv4_region``), and a signature
is accepted once: a captured request sent again is refused.

The cheap checks (header shape, date, region, a known key id) come before the body
is read. When the client signs ``x-amz-content-sha256``, the signature itself is
checked before the body too, and the body is then checked against that hash; a
client that does not sign it (boto3's events client does not) has its body read,
up to the size limit, before the signature can be computed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipline.store.keys import ApiKey

if TYPE_CHECKING:
    from starlette.requests import Request

    from shipline.api.keys import KeyCache

SERVICE = "events"
MAX_SKEW = timedelta(minutes=15)
DEFAULT_REGION = "us-east-1"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

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


@dataclass(frozen=True)
class Credential:
    """The parts of a SigV4 ``Authorization`` header, checked for shape, date and region."""

    key_id: str
    region: str
    signed: list[str]
    signature: str
    amz_date: str
    signed_at: datetime

    @property
    def payload_hash(self) -> str | None:
        """Whether the client signed the body's hash as a header (then it is checked
        against the body as it is read)."""
        return "x-amz-content-sha256" if "x-amz-content-sha256" in self.signed else None


def parse(headers: Mapping[str, str], region: str, now: datetime | None = None) -> Credential:
    """The credential of a request's lower-cased ``headers``; SigV4Error unless it is
    well formed, dated within 15 minutes, and scoped to ``region``."""
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
    key_id, day, scoped_region = parts[0], parts[1], parts[2]
    if scoped_region != region:
        raise SigV4Error(
            "InvalidSignatureException",
            403,
            f"Credential should be scoped to a valid region, not '{scoped_region}'."
            f" This endpoint's region is '{region}'.",
        )
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
    signed = match["signed"].split(";")
    if "host" not in signed:
        raise SigV4Error("InvalidSignatureException", 403, "SignedHeaders must include host")
    payload = headers.get("x-amz-content-sha256")
    if "x-amz-content-sha256" in signed and (payload is None or not _SHA256_HEX.match(payload)):
        raise SigV4Error(
            "InvalidSignatureException",
            400,
            "x-amz-content-sha256 must be the body's sha256 in hex (no UNSIGNED-PAYLOAD).",
        )
    return Credential(key_id, scoped_region, signed, match["signature"], amz_date, signed_at)


def usable_key(found: tuple[ApiKey, str] | None) -> tuple[ApiKey, str]:
    """The key and secret of a lookup; SigV4Error when unknown, revoked or expired."""
    if found is None or found[0].revoked_at is not None:
        raise SigV4Error(
            "UnrecognizedClientException",
            400,
            "The security token included in the request is invalid.",
        )
    if found[0].expired():
        raise SigV4Error(
            "ExpiredTokenException", 400, "The security token included in the request is expired"
        )
    return found


def check_signature(
    credential: Credential,
    secret: str,
    request: SignedRequest,
) -> None:
    """SigV4Error unless ``request`` carries the signature ``secret`` makes. When the
    hash of the body is a signed header, the body is not needed (pass ``b""``)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    url = f"http://{headers.get('host', '')}{request.path}"
    if request.query:
        url += "?" + request.query
    aws_request = AWSRequest(
        method=request.method,
        url=url,
        data=request.body,
        headers={name: value for name, value in headers.items() if name in credential.signed},
    )
    aws_request.context["timestamp"] = credential.amz_date
    verifier = _Verifier(
        Credentials(credential.key_id, secret), credential.region, credential.signed
    )
    expected = verifier.signature(
        verifier.string_to_sign(aws_request, verifier.canonical_request(aws_request)),
        aws_request,
    )
    if not hmac.compare_digest(expected, credential.signature):
        raise SigV4Error(
            "InvalidSignatureException",
            403,
            "The request signature we calculated does not match the signature you provided."
            " Check your AWS Secret Access Key and signing method.",
        )


def check_body(credential: Credential, headers: Mapping[str, str], body: bytes) -> None:
    """SigV4Error when the body is not the one whose hash was signed."""
    if credential.payload_hash is None:
        return
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), headers[credential.payload_hash]):
        raise SigV4Error(
            "InvalidSignatureException",
            400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )


def verify(
    request: SignedRequest,
    lookup: Callable[[str], tuple[ApiKey, str] | None],
    now: datetime | None = None,
    region: str = DEFAULT_REGION,
) -> ApiKey:
    """The key that signed ``request``; SigV4Error if the signature does not hold (no
    replay check: that needs the server's memory of signatures, see ``verified_body``)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    credential = parse(headers, region, now)
    key, secret = usable_key(lookup(credential.key_id))
    check_signature(credential, secret, request)
    check_body(credential, headers, request.body)
    return key


async def verified_body(
    request: Request, keys: KeyCache, limit: int, region: str
) -> tuple[ApiKey, bytes]:
    """The key that signed ``request`` and its body, read only once the signature is
    known to hold where the protocol allows; SigV4Error otherwise."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    now = datetime.now(UTC)
    credential = parse(headers, region, now)
    key, secret = usable_key(await keys.sigv4(credential.key_id))

    def signed(body: bytes) -> SignedRequest:
        return SignedRequest(request.method, request.url.path, request.url.query, headers, body)

    if credential.payload_hash is not None:
        check_signature(credential, secret, signed(b""))
        _first_use(keys, credential, now)
        body = await _read(request, limit)
        check_body(credential, headers, body)
    else:
        body = await _read(request, limit)
        check_signature(credential, secret, signed(body))
        _first_use(keys, credential, now)
    return key, body


def _first_use(keys: KeyCache, credential: Credential, now: datetime) -> None:
    if not keys.signatures.first_use(credential.signature, credential.signed_at + MAX_SKEW, now):
        raise SigV4Error(
            "InvalidSignatureException",
            403,
            "Signature already used: each signed request is accepted once; sign it again.",
        )


async def _read(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise SigV4Error(
            "RequestEntityTooLargeException", 413, f"body: {declared} bytes; the limit is {limit}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise SigV4Error(
                "RequestEntityTooLargeException", 413, f"body: over the limit of {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)
