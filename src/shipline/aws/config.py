"""Settings of the Lambda handlers: ``SHIPLINE_AWS_*`` environment variables.

The CDK stack sets them. The core's own settings (``SHIPLINE_DATABASE`` and the
rest) come from ``shipline.settings`` as everywhere else; when ``SHIPLINE_DATABASE``
is not set, the warehouse Lambdas build it from the warehouse secret and the
``warehouse_*`` settings here (``shipline.aws.warehouse``). boto3 reads
``AWS_ENDPOINT_URL`` and the region itself, so the same code runs against AWS and
against moto's server.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TTL_DAYS = 90
"""How long an event stays in the DynamoDB table (its ``expires_at``)."""


class AwsSettings(BaseSettings):
    """What the handlers need to know about the stack's resources."""

    model_config = SettingsConfigDict(env_prefix="SHIPLINE_AWS_", extra="ignore")

    events_table: str = "shipmentevents-dev"
    """The DynamoDB table the ingest handler writes (keyed shipment_id + event_key)."""
    rejects_queue_url: str | None = None
    """Where the ingest handler dead-letters records that break the event contract."""
    topic_arn: str | None = None
    """The SNS topic for upload, success, failure and nightly-run messages."""
    ttl_days: int = Field(default=TTL_DAYS, ge=1)
    warehouse_secret_arn: str | None = None
    """The Secrets Manager secret holding the warehouse's ``username`` and ``password``."""
    warehouse_host: str | None = None
    """The warehouse's address when the secret has no ``host`` (the workgroup endpoint)."""
    warehouse_port: int | None = Field(default=None, ge=1, le=65_535)
    """The warehouse's port when the secret has no ``port`` (else 5439, or 5432 for postgres)."""
    warehouse_database: str = "shipline"
    """The database name when the secret has no ``dbname`` (the namespace's database)."""


def load_aws_settings() -> AwsSettings:
    """Read ``SHIPLINE_AWS_*`` now (the handlers call this once per invocation)."""
    return AwsSettings()
