"""The nightly run (seed 000): base -> verify -> notify, as a state machine started at 00:00 UTC."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.lambdas import shipline_function
from infra.network import WarehouseNetwork
from infra.warehouse import Warehouse
from shipline.errors import TransientBackendError

# The retry policy: Lambda's transient errors and shipline's own. A Python Lambda's
# error name is its exception's class name, and Step Functions matches names exactly
# (not subclasses), so each class is listed.
SHIPLINE_TRANSIENT_ERRORS = [TransientBackendError.__name__]
TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
    *SHIPLINE_TRANSIENT_ERRORS,
]
NIGHTLY_RETRY_INTERVAL = Duration.seconds(30)
NIGHTLY_RETRY_ATTEMPTS = 3
NIGHTLY_BACKOFF_RATE = 2.0
NIGHTLY_TIMEOUT = Duration.hours(2)
SCHEDULE_RETRY_ATTEMPTS = 2


class NightlyRun:
    """The base and verify Lambdas, the state machine that runs them, and its schedule."""

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

        def step_function(construct_id: str, step: str) -> lambda_.Function:
            return shipline_function(
                scope,
                construct_id,
                f"shipline-{step}-{env_suffix}",
                f"{step}_handler",
                code,
                timeout=Duration.minutes(15),
                memory_mb=3008,
                environment=warehouse.client_environment,
                network=network,
            )

        self.base_fn = step_function("BaseFunction", "base")
        self.verify_fn = step_function("VerifyFunction", "verify")
        for fn in (self.base_fn, self.verify_fn):
            warehouse.secret.grant_read(fn)
        self.state_machine = self._state_machine(scope, env_suffix, topic)
        self.schedule = events.Rule(
            scope,
            "NightlySchedule",
            rule_name=f"shipline-nightly-{env_suffix}",
            description="The daily base run at 00:00 UTC",
            schedule=events.Schedule.cron(minute="0", hour="0"),
            targets=[
                targets.SfnStateMachine(self.state_machine, retry_attempts=SCHEDULE_RETRY_ATTEMPTS)
            ],
        )

    def _state_machine(
        self, scope: Construct, env_suffix: str, topic: sns.ITopic
    ) -> sfn.StateMachine:
        """Base, then verify; drift or any error after the retries publishes a failure."""
        publish_failure = tasks.SnsPublish(
            scope,
            "PublishFailure",
            topic=topic,
            subject=f"shipline ({env_suffix}): nightly run failed",
            message=sfn.TaskInput.from_json_path_at("$"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(
            sfn.Fail(scope, "NightlyFailed", error="NightlyRunFailed", cause="see the SNS message")
        )
        base = _retried_invoke(scope, "Base", self.base_fn, "$.base", publish_failure)
        verify = _retried_invoke(scope, "Verify", self.verify_fn, "$.verify", publish_failure)
        notify = tasks.SnsPublish(
            scope,
            "Notify",
            topic=topic,
            subject=f"shipline ({env_suffix}): nightly run done",
            message=sfn.TaskInput.from_json_path_at("$"),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Succeed(scope, "NightlyDone"))
        drift = (
            sfn.Choice(scope, "Drift?")
            .when(sfn.Condition.number_greater_than("$.verify.drift", 0), publish_failure)
            .otherwise(notify)
        )
        return sfn.StateMachine(
            scope,
            "NightlyStateMachine",
            state_machine_name=f"shipline-nightly-{env_suffix}",
            definition_body=sfn.DefinitionBody.from_chainable(base.next(verify).next(drift)),
            timeout=NIGHTLY_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    scope,
                    "NightlyLogs",
                    log_group_name=f"/aws/vendedlogs/states/shipline-nightly-{env_suffix}",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ERROR,
            ),
        )


def _retried_invoke(
    scope: Construct,
    state_name: str,
    function: lambda_.IFunction,
    result_path: str,
    on_failure: sfn.IChainable,
) -> tasks.LambdaInvoke:
    """The state ``state_name``: invoke ``function``, retrying ``TRANSIENT_ERRORS``.

    Any other error, or one that outlasts the retries, goes on to ``on_failure``.
    """
    task = tasks.LambdaInvoke(
        scope,
        state_name,
        lambda_function=function,
        payload_response_only=True,
        retry_on_service_exceptions=False,
        result_path=result_path,
    )
    task.add_retry(
        errors=TRANSIENT_ERRORS,
        interval=NIGHTLY_RETRY_INTERVAL,
        max_attempts=NIGHTLY_RETRY_ATTEMPTS,
        backoff_rate=NIGHTLY_BACKOFF_RATE,
    )
    task.add_catch(on_failure, errors=["States.ALL"], result_path="$.error")
    return task
