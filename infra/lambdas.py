"""What every part builds the same way: a shipline Lambda with its log group, and a DLQ.

Every Lambda runs code from one asset (``make lambda-bundle`` builds it into
``build/lambda/``); each handler is a function of ``shipline.aws.handlers``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.network import WarehouseNetwork

HANDLERS = "shipline.aws.handlers"
DLQ_RETENTION = Duration.days(14)


def shipline_function(
    scope: Construct,
    construct_id: str,
    name: str,
    handler: str,
    code: lambda_.Code,
    *,
    timeout: Duration,
    memory_mb: int,
    environment: dict[str, str],
    network: WarehouseNetwork | None = None,
    reserved_concurrency: int | None = None,
    on_failure: destinations.SqsDestination | None = None,
    retry_attempts: int | None = None,
) -> lambda_.Function:
    """The Lambda ``name`` running ``shipline.aws.handlers.<handler>``, traced, logs kept a month.

    The warehouse Lambdas pass the warehouse's ``network`` and run in its isolated
    subnets; the ingest processor, which talks only to SQS and DynamoDB, stays outside.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        log_group_name=f"/aws/lambda/{name}",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return lambda_.Function(
        scope,
        construct_id,
        function_name=name,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler=f"{HANDLERS}.{handler}",
        code=code,
        timeout=timeout,
        memory_size=memory_mb,
        environment=environment,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        reserved_concurrent_executions=reserved_concurrency,
        on_failure=on_failure,
        retry_attempts=retry_attempts,
        vpc=network.vpc if network else None,
        vpc_subnets=network.isolated if network else None,
        security_groups=[network.clients_sg] if network else None,
    )


def dead_letter_queue(
    scope: Construct,
    construct_id: str,
    queue_name: str,
    *,
    visibility_timeout: Duration | None = None,
) -> sqs.Queue:
    """An encrypted, TLS-only queue that keeps what failed for 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        retention_period=DLQ_RETENTION,
        visibility_timeout=visibility_timeout,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
