"""The warehouse's URL from its Secrets Manager secret: quoting, defaults, engines, errors."""

from __future__ import annotations

import json

import boto3
import pytest
from psycopg.conninfo import conninfo_to_dict

from shipline.aws.config import AwsSettings
from shipline.aws.handlers import stream_handler, warehouse_settings
from shipline.aws.warehouse import database_url, warehouse_url
from shipline.errors import ConfigError
from tests.aws.conftest import Aws

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shipline/warehouse-test-AbCdEf"
ENDPOINT = "shipline-test.123456789012.us-east-1.redshift-serverless.amazonaws.com"


def test_redshift_url_from_the_stack_secret_and_workgroup_endpoint() -> None:
    """The stack's secret holds only username and password; the rest are defaults."""
    url = database_url(
        {"username": "shipline_admin", "password": "pw"}, secret_arn=ARN, host=ENDPOINT
    )
    assert url == f"redshift://shipline_admin:pw@{ENDPOINT}:5439/shipline?sslmode=require"


def test_user_and_password_are_quoted() -> None:
    password = "p@ss:w/rd?#% ;'x"
    url = database_url(
        {"username": "ops@example", "password": password, "engine": "postgres"},
        secret_arn=ARN,
        host="127.0.0.1",
    )
    assert url == (
        "postgresql://ops%40example:p%40ss%3Aw%2Frd%3F%23%25%20%3B%27x@127.0.0.1:5432/shipline"
    )
    # libpq reads back exactly what the secret holds.
    parsed = conninfo_to_dict(url)
    assert (parsed["user"], parsed["password"], parsed["host"]) == (
        "ops@example",
        password,
        "127.0.0.1",
    )


def test_the_secret_wins_over_the_settings() -> None:
    secret = {
        "username": "u",
        "password": "p",
        "engine": "redshift",
        "host": "from-secret.example",
        "port": "5440",
        "dbname": "analytics",
    }
    url = database_url(secret, secret_arn=ARN, host=ENDPOINT, port=6000, database="shipline")
    assert url == "redshift://u:p@from-secret.example:5440/analytics?sslmode=require"
    settings_only = database_url(
        {"username": "u", "password": "p"}, secret_arn=ARN, host=ENDPOINT, port=6000, database="db"
    )
    assert settings_only == f"redshift://u:p@{ENDPOINT}:6000/db?sslmode=require"


@pytest.mark.parametrize(
    ("engine", "scheme", "port"),
    [
        ("redshift", "redshift", 5439),
        ("postgres", "postgresql", 5432),
        ("PostgreSQL", "postgresql", 5432),
    ],
)
def test_engine_picks_the_scheme_and_default_port(engine: str, scheme: str, port: int) -> None:
    url = database_url(
        {"username": "u", "password": "p", "engine": engine}, secret_arn=ARN, host="h"
    )
    assert url.startswith(f"{scheme}://u:p@h:{port}/shipline")


@pytest.mark.parametrize(
    ("secret", "host", "message"),
    [
        ({"username": "u", "password": "p"}, None, "has no host and SHIPLINE_AWS_WAREHOUSE_HOST"),
        ({"username": "u"}, ENDPOINT, "has no password"),
        ({"password": "secret-value"}, ENDPOINT, "has no username"),
        ({"username": "u", "password": "p", "engine": "mysql"}, ENDPOINT, "engine 'mysql'"),
        ({"username": "u", "password": "p", "port": "five"}, ENDPOINT, "port 'five'"),
    ],
)
def test_a_secret_that_cannot_make_a_url_is_refused(
    secret: dict[str, str], host: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        database_url(secret, secret_arn=ARN, host=host)
    assert ARN in str(raised.value)
    assert "secret-value" not in str(raised.value)


# Against moto's Secrets Manager -----------------------------------------------------------


def create_secret(name: str, value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = boto3.client("secretsmanager").create_secret(Name=name, SecretString=text)["ARN"]
    return arn


def test_a_missing_secret_names_the_secret_and_the_reason(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPLINE_DATABASE")
    monkeypatch.setenv("SHIPLINE_AWS_WAREHOUSE_SECRET_ARN", ARN)
    monkeypatch.setenv("SHIPLINE_AWS_WAREHOUSE_HOST", ENDPOINT)
    with pytest.raises(ConfigError, match="ResourceNotFoundException") as raised:
        stream_handler({"Records": []}, None)
    assert f"cannot read the warehouse secret {ARN}" in str(raised.value)


def test_a_secret_that_is_not_json_is_refused(aws: Aws) -> None:
    arn = create_secret("shipline/not-json", "hunter2")
    with pytest.raises(ConfigError, match="is not a JSON object") as raised:
        warehouse_url(AwsSettings(warehouse_secret_arn=arn, warehouse_host=ENDPOINT))
    assert arn in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_the_secret_is_read_once_per_container(aws: Aws) -> None:
    arn = create_secret("shipline/once", {"username": "u", "password": "p"})
    settings = AwsSettings(warehouse_secret_arn=arn, warehouse_host=ENDPOINT)
    first = warehouse_url(settings)
    boto3.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert warehouse_url(settings) == first  # a warm invocation does not read it again


def test_an_explicit_database_wins_over_the_secret(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_AWS_WAREHOUSE_SECRET_ARN", ARN)  # absent: never read
    aws_settings = AwsSettings()
    assert warehouse_settings(aws_settings).database == str(aws.database)
    assert stream_handler({"Records": []}, None)["received"] == 0

    arn = create_secret("shipline/warehouse", {"username": "u", "password": "p"})
    monkeypatch.delenv("SHIPLINE_DATABASE")
    secret_settings = AwsSettings(warehouse_secret_arn=arn, warehouse_host=ENDPOINT)
    assert warehouse_settings(secret_settings).database.startswith(f"redshift://u:p@{ENDPOINT}")
