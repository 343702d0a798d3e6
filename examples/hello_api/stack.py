"""The hello API: one function behind two prefixes, one per way of checking stepauth's tokens.

``/jwt/hello`` is behind API Gateway's native JWT authorizer (no function, no revocation
check), ``/lambda/hello`` behind stepauth's Lambda authorizer (denylist checked). ``GET`` needs
the scope ``hello.read``, ``POST`` needs ``hello.write``; both accept only tokens whose audience
is ``hello-api`` (stepauth's client ``hello``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from cdk.bundling import python_code
from cdk.protect import (
    JWT_AUTHORIZER_ALGORITHMS,
    StepAuthJwtAuthorizer,
    StepAuthLambdaAuthorizer,
    issuer_export,
)

AUDIENCE = "hello-api"
ROUTE_SCOPES = {"GET": ("hello.read",), "POST": ("hello.write",)}


class HelloApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stepauth_stack_name: str = "stepauth",
        issuer: str | None = None,
        authorizer_function_arn: str | None = None,
        algorithms: Sequence[str] = ("ES256",),
        authorizer_cache_ttl_seconds: int = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        function = lambda_.Function(
            self,
            "Hello",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="examples.hello_api.handler.handler",
            code=python_code(("examples",), (), "x86_64"),
            memory_size=128,
            timeout=Duration.seconds(5),
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{construct_id}-hello",
            deploy_options=apigw.StageOptions(stage_name="live"),
        )
        integration = apigw.LambdaIntegration(function, proxy=True)
        # API Gateway's JWT authorizers cannot verify Ed25519: with it, only /lambda exists.
        jwt_authorizer = None
        if all(a in JWT_AUTHORIZER_ALGORITHMS for a in algorithms):
            jwt_authorizer = StepAuthJwtAuthorizer(
                self,
                "JwtAuthorizer",
                rest_api=api,
                # stepauth's exports by default: deploy this stack after stepauth's.
                issuer=issuer or Fn.import_value(issuer_export(stepauth_stack_name)),
                audiences=[AUDIENCE],
                algorithms=algorithms,
            )
        lambda_authorizer = StepAuthLambdaAuthorizer(
            self,
            "LambdaAuthorizer",
            rest_api=api,
            audience=AUDIENCE,
            function_arn=authorizer_function_arn,
            stepauth_stack_name=stepauth_stack_name,
            results_cache_ttl=Duration.seconds(authorizer_cache_ttl_seconds),
        )
        by_lambda = api.root.add_resource("lambda").add_resource("hello")
        by_jwt = api.root.add_resource("jwt").add_resource("hello") if jwt_authorizer else None
        for method, scopes in ROUTE_SCOPES.items():
            if jwt_authorizer is not None and by_jwt is not None:
                jwt_authorizer.protect(by_jwt.add_method(method, integration), scopes)
            lambda_authorizer.require_scopes(
                by_lambda.add_method(method, integration, **lambda_authorizer.method_options()),
                scopes,
            )
        CfnOutput(self, "HelloApiUrl", value=api.url)
