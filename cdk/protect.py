"""Protect your own REST API with stepauth's access tokens: two constructs, two trade-offs.

* :class:`StepAuthJwtAuthorizer`: API Gateway's native JWT authorizer for REST APIs
  (``AWS::ApiGateway::Authorizer`` of type ``JWT``). No function runs: API Gateway fetches the
  issuer's discovery document and JWKS and checks signature, ``iss``, ``aud`` (or ``client_id``),
  ``exp``, ``nbf``, ``iat`` and the method's scopes. It cannot see stepauth's denylist: a
  logged-out token keeps working until it expires (at most the access-token lifetime).
  It accepts only RS256/384/512 and ES256/384/512, hence ES256 is stepauth's default.
* :class:`StepAuthLambdaAuthorizer`: stepauth's own authorizer function (a stack export), as a
  REQUEST authorizer. It checks the same claims plus the denylist (revocation bounded by the
  authorizer cache TTL), and works with Ed25519 keys too; it costs a Lambda invocation per
  uncached token.

Both take the audience the API accepts and per-method scopes (any one of a method's scopes
suffices; a valid token without one gets 403).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Fn
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: What API Gateway's JWT authorizers accept (API reference, ``JwtConfigurationInput``).
JWT_AUTHORIZER_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
#: Stage variables the Lambda authorizer reads (authorizer/policy.py).
AUDIENCE_VARIABLE = "stepauthAudience"
ROUTE_SCOPES_VARIABLE = "stepauthRouteScopes"


def authorizer_function_export(stepauth_stack_name: str = "stepauth") -> str:
    """The export name of stepauth's authorizer function ARN (an output of its stack)."""
    return f"{stepauth_stack_name}-AuthorizerFunctionArn"


def issuer_export(stepauth_stack_name: str = "stepauth") -> str:
    """The export name of stepauth's issuer URL (an output of its stack)."""
    return f"{stepauth_stack_name}-Issuer"


class StepAuthJwtAuthorizer(Construct):
    """A native JWT authorizer that trusts one stepauth issuer for some audiences."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigw.IRestApi,
        issuer: str,
        audiences: Sequence[str],
        algorithms: Sequence[str] = ("ES256",),
        header: str = "Authorization",
    ) -> None:
        super().__init__(scope, construct_id)
        unsupported = [a for a in algorithms if a not in JWT_AUTHORIZER_ALGORITHMS]
        if unsupported or not algorithms:
            raise ValueError(
                f"API Gateway's JWT authorizers accept only {', '.join(JWT_AUTHORIZER_ALGORITHMS)}"
                f" (got {', '.join(unsupported) or 'none'}): sign with ES256, or use "
                "StepAuthLambdaAuthorizer"
            )
        if not audiences:
            raise ValueError("a JWT authorizer needs at least one audience")
        self.resource = apigw.CfnAuthorizer(
            self,
            "Resource",
            rest_api_id=rest_api.rest_api_id,
            name=f"{construct_id}-stepauth-jwt",
            type="JWT",
            identity_source=f"method.request.header.{header}",
        )
        # aws-cdk-lib 2.275's L1 does not know the JWT properties yet: set them as CloudFormation
        # names them (AWS::ApiGateway::Authorizer JwtConfiguration).
        self.resource.add_property_override(
            "JwtConfiguration",
            {
                "DefaultAlgorithms": list(algorithms),
                "Issuers": [{"Issuer": issuer, "Audiences": list(audiences)}],
            },
        )

    def protect(self, method: apigw.Method, scopes: Sequence[str] = ()) -> None:
        """Put ``method`` behind this authorizer; a token needs one of ``scopes`` (if any)."""
        cfn = method.node.default_child
        assert isinstance(cfn, apigw.CfnMethod)
        cfn.authorization_type = "JWT"
        cfn.authorizer_id = self.resource.ref
        cfn.authorization_scopes = list(scopes) or None


class StepAuthLambdaAuthorizer(Construct):
    """stepauth's authorizer function as a REQUEST authorizer of another REST API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigw.RestApi,
        audience: str,
        function_arn: str | None = None,
        stepauth_stack_name: str = "stepauth",
        results_cache_ttl: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        arn = function_arn or Fn.import_value(authorizer_function_export(stepauth_stack_name))
        function = lambda_.Function.from_function_attributes(
            self, "Function", function_arn=arn, same_environment=True
        )
        self._rest_api = rest_api
        self._audience = audience
        self._route_scopes: list[str] = []
        # The cache key is the token and the API's own variables: the answer (a policy for the
        # whole stage) depends on nothing else.
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=function,
            identity_sources=[
                apigw.IdentitySource.header("Authorization"),
                apigw.IdentitySource.stage_variable(AUDIENCE_VARIABLE),
            ],
            results_cache_ttl=results_cache_ttl or Duration.minutes(5),
        )
        self._set_stage_variables()

    def method_options(self) -> dict[str, object]:
        """Keyword arguments of ``add_method`` that put a method behind this authorizer."""
        return {"authorizer": self.authorizer, "authorization_type": apigw.AuthorizationType.CUSTOM}

    def require_scopes(self, method: apigw.Method, scopes: Sequence[str]) -> None:
        """A token needs one of ``scopes`` to call ``method`` (403 otherwise)."""
        path = "/".join(
            "*" if part.startswith("{") else part for part in method.resource.path.split("/")
        ).strip("/")
        self._route_scopes.append(f"{method.http_method}/{path}={'&'.join(scopes)}")
        self._set_stage_variables()

    def _set_stage_variables(self) -> None:
        stage = self._rest_api.deployment_stage.node.default_child
        assert isinstance(stage, apigw.CfnStage)
        variables = {AUDIENCE_VARIABLE: self._audience}
        if self._route_scopes:
            variables[ROUTE_SCOPES_VARIABLE] = ",".join(self._route_scopes)
        stage.variables = variables
