"""The warehouse's network: isolated subnets, no NAT gateway, no internet route.

The subnets are isolated (no NAT gateway, no internet gateway), so the Lambdas in them
reach AWS services only through endpoints: S3 (the loader) through a free gateway
endpoint; Secrets Manager (the warehouse secret, once per container) and SNS (the
loader's and alerts' messages) through interface endpoints that admit only the
Lambdas' security group. Logs, and the trace segments Lambda itself records (the code
has no X-Ray SDK), leave through Lambda's own channel, not the VPC. The workgroup
admits its port from the Lambdas' security group alone.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

WAREHOUSE_PORT = 5439
WAREHOUSE_AZS = 2  # enough for a workgroup without enhanced VPC routing (which needs 3)


class WarehouseNetwork:
    """The VPC of the warehouse and its Lambdas, with the endpoints those Lambdas call."""

    def __init__(self, scope: Construct) -> None:
        self.vpc = ec2.Vpc(
            scope,
            "WarehouseVpc",
            max_azs=WAREHOUSE_AZS,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="warehouse", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
        )
        self.isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.clients_sg = ec2.SecurityGroup(
            scope,
            "WarehouseClientsSecurityGroup",
            vpc=self.vpc,
            description="The Lambdas that use the warehouse",
            # Isolated subnets: outbound traffic can only reach the VPC and its endpoints.
            allow_all_outbound=True,
        )
        self.warehouse_sg = ec2.SecurityGroup(
            scope,
            "WarehouseSecurityGroup",
            vpc=self.vpc,
            description="Redshift Serverless: port 5439 from the warehouse Lambdas only",
            allow_all_outbound=False,
        )
        self.warehouse_sg.add_ingress_rule(
            self.clients_sg, ec2.Port.tcp(WAREHOUSE_PORT), "the warehouse Lambdas"
        )
        self._add_endpoints()

    def _add_endpoints(self) -> None:
        self.vpc.add_gateway_endpoint(
            "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.isolated]
        )
        for construct_id, service in (
            ("SecretsManagerEndpoint", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("SnsEndpoint", ec2.InterfaceVpcEndpointAwsService.SNS),
        ):
            endpoint = self.vpc.add_interface_endpoint(
                construct_id,
                service=service,
                subnets=self.isolated,
                private_dns_enabled=True,
                open=False,
            )
            endpoint.connections.allow_default_port_from(self.clients_sg, "the warehouse Lambdas")

    def isolated_subnet_ids(self) -> list[str]:
        """The isolated subnets' ids, one per AZ: where the workgroup and the Lambdas run."""
        return self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids
