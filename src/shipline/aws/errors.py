"""AWS failures as shipline's errors, so handlers retry by type and never by message.

boto3 raises ``ClientError`` when a service answered with an error code, and a
``BotoCoreError`` when the call got no answer or could not be made. ``aws_error``
turns either into one of shipline's errors, and the handlers act on its class:

- ``TransientBackendError`` (``transient`` is true): throttling, capacity, the
  service's own failures, timeouts and connection errors. The same call may succeed
  later, so the work is retried.
- ``ConfigError``: the resource does not exist, this function's role may not use
  it, or there are no credentials or region. Every record would fail the same way,
  so a handler fails loudly instead of blaming the records.
- ``BackendError``: the service refused this one request (an item over DynamoDB's
  400 KB limit, an attribute it does not accept). Retrying cannot help; the record
  is dead-lettered with the reason.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from shipline.errors import BackendError, ConfigError, ShiplineError, TransientBackendError

TRANSIENT_CODES = frozenset(
    {
        # Throttling and capacity (DynamoDB, SQS, SNS, Secrets Manager, S3).
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "KMSThrottlingException",
        "SlowDown",
        # The service's own failures.
        "InternalServerError",
        "InternalServerErrorException",
        "InternalServiceError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        # Timeouts and races that resolve themselves.
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "PriorRequestNotComplete",
    }
)
"""Error codes worth a retry: the same request may succeed later."""

MISSING_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NotFound",
        "NotFoundException",
        "NoSuchBucket",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "NonExistentQueue",
        "KMSNotFoundException",
    }
)
"""The resource the call names does not exist: a setting names the wrong one."""

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "ExpiredToken",
        "ExpiredTokenException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "OptInRequired",
    }
)
"""The caller may not make the call: the role's permissions or the credentials."""

_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses botocore's own retries treat as transient, whatever the code says."""


def error_code(error: ClientError) -> str:
    """The service's error code (``"ValidationException"``, ``"404"``, ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def aws_error(
    error: ClientError | BotoCoreError, action: str, setting: str | None = None
) -> ShiplineError:
    """shipline's error for a failed AWS call.

    ``action`` says what was tried ("put event e-1 into DynamoDB table t"); ``setting``
    names the variable that names the resource, so a configuration error says what to
    change. The message always carries the service's code and message.
    """
    if isinstance(error, ClientError):
        code = error_code(error)
        detail = f"{code}: {error.response.get('Error', {}).get('Message', '') or error}"
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in TRANSIENT_CODES or status in _TRANSIENT_STATUS:
            return TransientBackendError(f"cannot {action} now ({detail}); retry later")
        if code in MISSING_CODES:
            where = f"; check {setting}" if setting else ""
            return ConfigError(
                f"cannot {action}: it does not exist ({detail}){where} and that the"
                " resource is deployed in this account and region"
            )
        if code in DENIED_CODES:
            return ConfigError(
                f"cannot {action}: not allowed ({detail}); grant this function's role the"
                " permission (or fix its credentials)"
            )
        return BackendError(f"cannot {action}: refused ({detail})")
    if isinstance(error, ConnectionError | HTTPClientError):
        return TransientBackendError(f"cannot {action} now: {error}; retry later")
    if isinstance(error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return ConfigError(f"cannot {action}: {error}; give the function credentials")
    if isinstance(error, NoRegionError):
        return ConfigError(f"cannot {action}: {error}; set AWS_REGION")
    return BackendError(f"cannot {action}: {error}")
