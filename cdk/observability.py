"""Alarms on what needs an operator: server faults, throttling, the API's 5xx answers.

Rejected requests (4xx) end their executions in a ``Fail`` state with the error
``stepauth.ClientError`` (see ``cdk/workflows.py``), so the state machines' own
``ExecutionsFailed`` metric counts every wrong password: alarming on it would cry wolf. Instead a
metric filter on each workflow's log group counts *server faults*, the executions that failed
with any other error, timed out or were aborted (Lambda errors and throttled Lambda invocations
inside a workflow end there too), into one metric per stack:
``stepauth/<stack>`` / ``WorkflowServerFaults``.

Four alarms, each breaching on a single event in five minutes (missing data is not breaching):

* ``<stack>-server-faults``: the metric above, every workflow;
* ``<stack>-workflow-throttles``: ``ExecutionThrottled``, summed over the workflows;
* ``<stack>-api-5xx``: the REST API's ``5XXError`` (authorizer and JWKS faults, refused
  service calls, server faults as the client saw them);
* ``<stack>-lambda-throttles``: Lambda ``Throttles`` of the account and region (CloudWatch has
  no per-stack aggregate; throttles of the workflow steps also show as server faults).

The alarms have no action: attach an SNS topic (``construct.alarms``) where someone is paged.
At $0.10 per alarm metric a month they cost about $1.10 a month (the throttle sum counts one
metric per workflow).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

SERVER_FAULT_METRIC = "WorkflowServerFaults"
#: A failed execution whose error is not a client rejection, or one that timed out or was
#: aborted (CloudWatch Logs filter syntax on the Step Functions log events).
SERVER_FAULT_PATTERN = (
    '{ ($.type = "ExecutionFailed" && $.details.error != "stepauth.ClientError") || '
    '($.type = "ExecutionTimedOut") || ($.type = "ExecutionAborted") }'
)
PERIOD = Duration.minutes(5)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_name: str,
        workflows: Mapping[str, sfn.StateMachine],
        workflow_log_groups: Mapping[str, logs.ILogGroup],
        api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        namespace = f"stepauth/{stack_name}"
        for name, log_group in workflow_log_groups.items():
            logs.MetricFilter(
                self,
                f"{name}ServerFaults",
                log_group=log_group,
                filter_pattern=logs.FilterPattern.literal(SERVER_FAULT_PATTERN),
                metric_namespace=namespace,
                metric_name=SERVER_FAULT_METRIC,
                metric_value="1",
            )
        server_faults = cloudwatch.Metric(
            namespace=namespace,
            metric_name=SERVER_FAULT_METRIC,
            statistic=cloudwatch.Stats.SUM,
            period=PERIOD,
        )
        # An alarm sums at most 10 metrics: one throttle alarm per 10 workflows.
        machines = list(workflows.values())
        throttle_groups = [machines[i : i + 10] for i in range(0, len(machines), 10)]
        throttled = [
            cloudwatch.MathExpression(
                expression="SUM(METRICS())",
                label="ExecutionThrottled (all workflows)",
                using_metrics={
                    f"w{index}": machine.metric_throttled(
                        statistic=cloudwatch.Stats.SUM, period=PERIOD
                    )
                    for index, machine in enumerate(group)
                },
                period=PERIOD,
            )
            for group in throttle_groups
        ]
        self.alarms = [
            self._alarm(
                "ServerFaults",
                f"{stack_name}-server-faults",
                server_faults,
                "A workflow execution failed with a server fault (not a rejected request), "
                "timed out or was aborted. `stepauth executions list --status FAILED` shows it; "
                "rejected requests fail with stepauth.ClientError and are not counted.",
            ),
            *(
                self._alarm(
                    "WorkflowThrottles" + (f"{number + 1}" if number else ""),
                    f"{stack_name}-workflow-throttles" + (f"-{number + 1}" if number else ""),
                    expression,
                    "Step Functions throttled workflow executions (StartSyncExecution quota).",
                )
                for number, expression in enumerate(throttled)
            ),
            self._alarm(
                "Api5xx",
                f"{stack_name}-api-5xx",
                api.metric_server_error(statistic=cloudwatch.Stats.SUM, period=PERIOD),
                "The REST API answered 5xx.",
            ),
            self._alarm(
                "LambdaThrottles",
                f"{stack_name}-lambda-throttles",
                lambda_.Function.metric_all_throttles(
                    statistic=cloudwatch.Stats.SUM, period=PERIOD
                ),
                "Lambda throttled invocations in this account and region (all functions).",
            ),
        ]

    def _alarm(
        self, construct_id: str, name: str, metric: cloudwatch.IMetric, description: str
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
