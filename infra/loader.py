"""Files (seed 004): landing bucket -> loader Lambda -> warehouse, failures to a DLQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.lambdas import dead_letter_queue, shipline_function
from infra.network import WarehouseNetwork
from infra.warehouse import Warehouse

LOADER_RETRY_ATTEMPTS = 2
# The loader's S3 calls on objects: GetObject for the new key; quarantine is CopyObject
# (which copies the object's tags), PutObject of the reason file and DeleteObject (a
# delete marker: versioning keeps the file, so no DeleteObjectVersion).
OBJECT_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectTagging",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
]


class Loader:
    """The loader Lambda on every new landing file; the S3 events it gave up on, in a DLQ."""

    def __init__(
        self,
        scope: Construct,
        env_suffix: str,
        code: lambda_.Code,
        *,
        network: WarehouseNetwork,
        warehouse: Warehouse,
        topic: sns.ITopic,
    ) -> None:
        self.dlq = dead_letter_queue(
            scope, "LoaderFailuresDLQ", f"shipline-loader-dlq-{env_suffix}"
        )
        self.function = shipline_function(
            scope,
            "LoaderFunction",
            f"shipline-loader-{env_suffix}",
            "loader_handler",
            code,
            timeout=Duration.minutes(15),
            memory_mb=2048,
            # Redshift COPYs landing files from S3 with the namespace's default role.
            environment={
                **warehouse.client_environment,
                "SHIPLINE_LOADER_REDSHIFT_IAM_ROLE": "default",
            },
            network=network,
            on_failure=destinations.SqsDestination(self.dlq),
            retry_attempts=LOADER_RETRY_ATTEMPTS,
        )
        bucket = warehouse.bucket
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(self.function)
        )
        # ListObjectsV2 on the bucket, the rest on its objects.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=OBJECT_ACTIONS, resources=[bucket.arn_for_objects("*")])
        )
        topic.grant_publish(self.function)
        warehouse.secret.grant_read(self.function)
