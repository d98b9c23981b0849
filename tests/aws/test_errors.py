"""botocore's errors classed as shipline's: transient, configuration, or the request's own."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from shipline.aws.errors import aws_error
from shipline.errors import BackendError, ConfigError, TransientBackendError


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutItem",
    )


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    ],
)
def test_throttling_and_service_failures_are_transient(code: str) -> None:
    error = aws_error(client_error(code), "put event e-1 into DynamoDB table t")
    assert type(error) is TransientBackendError
    assert error.transient
    assert (
        str(error) == f"cannot put event e-1 into DynamoDB table t now ({code}: {code}"
        " happened); retry later"
    )


def test_an_unknown_code_with_a_server_status_is_transient() -> None:
    assert aws_error(client_error("SomethingNew", status=503), "publish").transient


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_connection_errors_and_timeouts_are_transient(error: BotoCoreError) -> None:
    assert type(aws_error(error, "publish")) is TransientBackendError


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ResourceNotFoundException", "does not exist"),
        ("AWS.SimpleQueueService.NonExistentQueue", "does not exist"),
        ("NotFound", "does not exist"),
        ("AccessDeniedException", "grant this function's role the permission"),
        ("UnrecognizedClientException", "grant this function's role the permission"),
    ],
)
def test_missing_resources_and_refused_permissions_are_configuration(code: str, says: str) -> None:
    error = aws_error(client_error(code), "put event e-1 into table t", "SHIPLINE_AWS_EVENTS_TABLE")
    assert type(error) is ConfigError
    assert not error.transient
    assert says in str(error) and code in str(error)


def test_a_missing_resource_names_the_setting_to_check() -> None:
    error = aws_error(client_error("ResourceNotFoundException"), "put", "SHIPLINE_AWS_EVENTS_TABLE")
    assert "check SHIPLINE_AWS_EVENTS_TABLE" in str(error)


def test_no_credentials_is_configuration() -> None:
    assert type(aws_error(NoCredentialsError(), "publish")) is ConfigError


@pytest.mark.parametrize(
    "error",
    [
        client_error("ValidationException"),
        client_error("ItemCollectionSizeLimitExceededException"),
        ParamValidationError(report="Invalid type for parameter Item"),
    ],
)
def test_a_refused_request_is_terminal_and_the_requests_own(
    error: ClientError | BotoCoreError,
) -> None:
    classed = aws_error(error, "put event e-1")
    assert type(classed) is BackendError
    assert not classed.transient
