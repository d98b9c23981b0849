"""The warehouse: Redshift Serverless in the isolated subnets, its admin secret, the landing bucket.

The warehouse is not publicly accessible. The Lambdas that use it get no
``SHIPLINE_DATABASE``: they build the warehouse's URL from its secret and the
workgroup's endpoint address (``shipline.aws.warehouse``).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.network import WAREHOUSE_PORT, WarehouseNetwork

WAREHOUSE_DATABASE = "shipline"
WAREHOUSE_BASE_CAPACITY = 8  # RPUs


class Warehouse:
    """The namespace and workgroup, the secret they are reached with, and the landing bucket.

    The bucket is here, not in the loader, because the namespace's default role reads it:
    Redshift COPYs landing files with that role.
    """

    def __init__(
        self,
        scope: Construct,
        env_suffix: str,
        *,
        network: WarehouseNetwork,
        topic: sns.ITopic,
        removal: RemovalPolicy,
    ) -> None:
        self.secret = _admin_secret(scope, env_suffix, removal)
        self.bucket = _landing_bucket(scope, removal)
        self.workgroup_name = f"shipline-{env_suffix}"
        self.namespace = self._namespace(scope, env_suffix)
        self.workgroup = redshift.CfnWorkgroup(
            scope,
            "WarehouseWorkgroup",
            workgroup_name=self.workgroup_name,
            namespace_name=f"shipline-{env_suffix}",
            base_capacity=WAREHOUSE_BASE_CAPACITY,
            port=WAREHOUSE_PORT,
            publicly_accessible=False,
            # Without enhanced VPC routing two subnets in two AZs are enough; COPY from
            # the landing bucket then goes through Redshift's own network.
            enhanced_vpc_routing=False,
            subnet_ids=network.isolated_subnet_ids(),
            security_group_ids=[network.warehouse_sg.security_group_id],
        )
        self.workgroup.node.add_dependency(self.namespace)
        # What every warehouse Lambda is given to reach the warehouse and the topic.
        self.client_environment = {
            "SHIPLINE_AWS_WAREHOUSE_SECRET_ARN": self.secret.secret_arn,
            "SHIPLINE_AWS_WAREHOUSE_HOST": self.workgroup.attr_workgroup_endpoint_address,
            "SHIPLINE_AWS_WAREHOUSE_PORT": str(WAREHOUSE_PORT),
            "SHIPLINE_AWS_WAREHOUSE_DATABASE": WAREHOUSE_DATABASE,
            "SHIPLINE_AWS_TOPIC_ARN": topic.topic_arn,
            "SHIPLINE_ENVIRONMENT": env_suffix,
        }

    def _namespace(self, scope: Construct, env_suffix: str) -> redshift.CfnNamespace:
        """The namespace; its default role may read the landing bucket, for COPY."""
        role = iam.Role(
            scope,
            "WarehouseRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ),
            description="Lets Redshift COPY from the landing bucket",
        )
        self.bucket.grant_read(role)
        return redshift.CfnNamespace(
            scope,
            "WarehouseNamespace",
            namespace_name=f"shipline-{env_suffix}",
            db_name=WAREHOUSE_DATABASE,
            admin_username=self.secret.secret_value_from_json("username").unsafe_unwrap(),
            admin_user_password=self.secret.secret_value_from_json("password").unsafe_unwrap(),
            iam_roles=[role.role_arn],
            default_iam_role_arn=role.role_arn,
        )


def _admin_secret(
    scope: Construct, env_suffix: str, removal: RemovalPolicy
) -> secretsmanager.Secret:
    """The namespace's admin user and a generated password, which the Lambdas read."""
    return secretsmanager.Secret(
        scope,
        "WarehouseSecret",
        secret_name=f"shipline/warehouse-{env_suffix}",
        description="Redshift Serverless admin credentials for shipline",
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template='{"username": "shipline_admin"}',
            generate_string_key="password",
            exclude_characters="\"'@/\\ ",
            password_length=32,
        ),
        removal_policy=removal,
    )


def _landing_bucket(scope: Construct, removal: RemovalPolicy) -> s3.Bucket:
    """Where files land for the loader; CloudFormation names it (bucket names are global)."""
    return s3.Bucket(
        scope,
        "LandingBucket",
        bucket_name=None,
        versioned=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=removal,
        auto_delete_objects=False,
    )
