"""The warehouse's database URL on AWS, built from its Secrets Manager secret.

The stack gives the warehouse Lambdas no ``SHIPLINE_DATABASE``: it gives them the
warehouse secret's ARN (``SHIPLINE_AWS_WAREHOUSE_SECRET_ARN``) and the workgroup's
endpoint address (``SHIPLINE_AWS_WAREHOUSE_HOST``). The secret has the shape AWS
uses for Redshift and RDS secrets: ``username`` and ``password``, and optionally
``host``, ``port``, ``dbname`` and ``engine``. A value in the secret wins over the
``SHIPLINE_AWS_WAREHOUSE_*`` setting it stands for.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shipline.aws.config import AwsSettings
from shipline.aws.errors import aws_error, error_code
from shipline.errors import ConfigError, TransientBackendError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ENGINES = {
    "redshift": ("redshift", 5439),
    "postgres": ("postgresql", 5432),
    "postgresql": ("postgresql", 5432),
}
"""A secret's ``engine`` -> the URL scheme ``open_backend`` takes, and the engine's port."""
DEFAULT_ENGINE = "redshift"


def warehouse_url(aws: AwsSettings) -> str:
    """The warehouse's URL from the secret ``aws.warehouse_secret_arn`` names.

    Read once per Lambda container: the secret is fetched at the first invocation
    and kept for the container's life, so warm invocations make no Secrets Manager
    call. A failed read is not kept, so the next invocation tries again.
    """
    if not aws.warehouse_secret_arn:
        raise ConfigError(
            "no warehouse: set SHIPLINE_DATABASE, or SHIPLINE_AWS_WAREHOUSE_SECRET_ARN"
            " to the secret holding the warehouse's credentials"
        )
    return _cached_url(
        aws.warehouse_secret_arn, aws.warehouse_host, aws.warehouse_port, aws.warehouse_database
    )


def forget_warehouse_url() -> None:
    """Read the secret again at the next invocation (its password may have rotated)."""
    _cached_url.cache_clear()


@functools.lru_cache(maxsize=8)
def _cached_url(secret_arn: str, host: str | None, port: int | None, database: str) -> str:
    secret = read_secret(boto3.client("secretsmanager"), secret_arn)
    return database_url(secret, secret_arn=secret_arn, host=host, port=port, database=database)


def read_secret(client: SecretsManagerClient, secret_arn: str) -> dict[str, Any]:
    """The secret's JSON object; a clear error naming the secret if it cannot be had."""
    try:
        response = client.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error_code(error)
        reason = f"{code}: {error.response.get('Error', {}).get('Message', error)}"
        # Any refusal that is not transient is a setting to fix, whatever its code.
        if aws_error(error, "read the warehouse secret").transient:
            raise TransientBackendError(
                f"cannot read the warehouse secret {secret_arn} now ({reason}); retry later"
            ) from error
        raise ConfigError(
            f"cannot read the warehouse secret {secret_arn} ({reason}); check"
            " SHIPLINE_AWS_WAREHOUSE_SECRET_ARN and that this function's role may read"
            " the secret, or set SHIPLINE_DATABASE"
        ) from error
    except BotoCoreError as error:
        raise TransientBackendError(
            f"cannot reach Secrets Manager for the warehouse secret {secret_arn} ({error});"
            " check the VPC's secretsmanager endpoint, then retry"
        ) from error
    text = response.get("SecretString")
    try:
        secret = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        secret = None
    if not isinstance(secret, dict):
        raise ConfigError(
            f"the warehouse secret {secret_arn} is not a JSON object; store"
            ' {"username": ..., "password": ...} in it as a string'
        )
    return secret


def database_url(
    secret: Mapping[str, Any],
    *,
    secret_arn: str,
    host: str | None = None,
    port: int | None = None,
    database: str = "shipline",
) -> str:
    """``redshift://user:password@host:port/db`` (or ``postgresql://...``) from a secret.

    ``host``, ``port`` and ``database`` are the settings' values, used where the
    secret has no ``host``, ``port`` or ``dbname``. User and password are
    percent-quoted, so any character in them is safe in the URL.
    """
    missing = [key for key in ("username", "password") if not secret.get(key)]
    if missing:
        raise ConfigError(
            f"the warehouse secret {secret_arn} has no {' or '.join(missing)}; it needs"
            " username and password (the shape AWS uses for Redshift secrets)"
        )
    engine = str(secret.get("engine") or DEFAULT_ENGINE).lower()
    if engine not in ENGINES:
        raise ConfigError(
            f"the warehouse secret {secret_arn} names engine {engine!r}; use one of"
            f" {', '.join(ENGINES)}"
        )
    scheme, default_port = ENGINES[engine]
    address = secret.get("host") or host
    if not address:
        raise ConfigError(
            f"the warehouse secret {secret_arn} has no host and SHIPLINE_AWS_WAREHOUSE_HOST"
            " is not set; set it to the workgroup's endpoint address"
        )
    user = quote(str(secret["username"]), safe="")
    password = quote(str(secret["password"]), safe="")
    try:
        number = int(secret.get("port") or port or default_port)
    except ValueError:
        raise ConfigError(
            f"the warehouse secret {secret_arn} has port {secret['port']!r}; give a number"
        ) from None
    name = quote(str(secret.get("dbname") or database), safe="")
    url = f"{scheme}://{user}:{password}@{address}:{number}/{name}"
    # Redshift always offers TLS; require it rather than let libpq fall back to plain text.
    return f"{url}?sslmode=require" if scheme == "redshift" else url
