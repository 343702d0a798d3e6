"""The REST API: public flows as synchronous Step Functions executions, JWKS as a Lambda.

Mapping templates live in ``cdk/mapping_templates/`` as plain VTL; the local gateway renders the
synthesized copies of these same templates.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .config import StackConfig

TEMPLATES = Path(__file__).resolve().parent / "mapping_templates"

# Statuses a workflow can answer with (the response template overrides the integration's 200).
WORKFLOW_STATUSES = ("200", "201", "204", "400", "401", "403", "409", "413", "429", "500")

# API Gateway's own errors (unknown route, unsupported media type, throttling …) in the
# contract's error shape instead of API Gateway's {"message": …}.
_GATEWAY_ERRORS = {
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "not_found", "No such route."),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: (
        "415",
        "invalid_request",
        "Content-Type must be application/json.",
    ),
    apigw.ResponseType.REQUEST_TOO_LARGE: (
        "413",
        "invalid_request",
        "The request body is too large.",
    ),
    apigw.ResponseType.THROTTLED: ("429", "slow_down", "Too many requests; retry later."),
    apigw.ResponseType.DEFAULT_4_XX: (None, "invalid_request", "The request was rejected."),
    apigw.ResponseType.DEFAULT_5_XX: (None, "server_error", "The request could not be completed."),
}

# Content types whose body is handed to a workflow. curl's default for -d is form-encoded;
# the validate steps still require the body itself to be a JSON object.
_ACCEPTED_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text()


class StepAuthApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        workflows: dict[str, sfn.StateMachine],
        jwks_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{config.stack_name}-api",
            description="stepauth: registration, login and tokens",
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name="live",
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
            ),
        )
        for response_type, (status, code, description) in _GATEWAY_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"GatewayResponse{response_type.response_type}",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": (
                        f'{{"error":"{code}","error_description":"{description}"}}'
                    )
                },
            )
        invoke_role = iam.Role(
            self,
            "StartWorkflowRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets the REST API start the stepauth workflows synchronously",
        )
        v1 = self.rest_api.root.add_resource("v1")
        for path, workflow in workflows.items():
            workflow.grant_start_sync_execution(invoke_role)
            resource = v1.resource_for_path(path)
            resource.add_method(
                "POST",
                self._sync_execution(workflow, invoke_role),
                method_responses=[apigw.MethodResponse(status_code=s) for s in WORKFLOW_STATUSES],
            )
        well_known = self.rest_api.root.add_resource(".well-known")
        well_known.add_resource("jwks.json").add_method(
            "GET", apigw.LambdaIntegration(jwks_function, proxy=True)
        )

    @staticmethod
    def _sync_execution(workflow: sfn.StateMachine, role: iam.IRole) -> apigw.AwsIntegration:
        request = _template("start_sync_execution.vtl").replace(
            "${STATE_MACHINE_ARN}", workflow.state_machine_arn
        )
        return apigw.AwsIntegration(
            service="states",
            action="StartSyncExecution",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={ct: request for ct in _ACCEPTED_CONTENT_TYPES},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_templates={"application/json": _template("execution_result.vtl")},
                    ),
                    apigw.IntegrationResponse(
                        # Step Functions refused the call itself (throttled, misconfigured).
                        selection_pattern="[45]\\d{2}",
                        status_code="500",
                        response_templates={
                            "application/json": (
                                '{"error":"server_error","error_description":'
                                '"The request could not be completed."}'
                            )
                        },
                    ),
                ],
            ),
        )
