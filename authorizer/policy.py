"""The IAM policy and context an allowed token gets.

API Gateway caches the authorizer's answer per token (not per route), so the policy must be
right for EVERY route of the API: it allows the whole stage and, for a caller without the
``admin`` role, explicitly denies the admin routes (an explicit Deny wins: HTTP 403). An
enrolment token (``mfa=required``) is allowed its two enrolment routes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from steps.core.mfa_enrollment import ENROLLMENT_ROUTES, ENROLLMENT_SCOPE

#: Stage variables of an API protected with stepauth's Lambda authorizer (cdk/protect.py).
AUDIENCE_VARIABLE = "stepauthAudience"
ROUTE_SCOPES_VARIABLE = "stepauthRouteScopes"
ADMIN_ROLE = "admin"
ADMIN_PATH = "v1/admin"
ACTION = "execute-api:Invoke"


@dataclass(frozen=True)
class StageArn:
    """The stage of a method ARN: ``arn:<partition>:execute-api:<region>:<acct>:<api>/<stage>``."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str

    @classmethod
    def from_method_arn(cls, method_arn: Any) -> StageArn:
        """Parse ``arn:aws:execute-api:<region>:<acct>:<apiId>/<stage>/<METHOD>/<path>``.

        Raises ValueError: API Gateway always sends a valid ARN, so a bad one is a server fault.
        """
        if not isinstance(method_arn, str):
            raise ValueError("The authorizer event has no methodArn.")
        parts = method_arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
            raise ValueError("The methodArn is not an execute-api ARN.")
        _, partition, _, region, account, resource = parts
        api_id, _, rest = resource.partition("/")
        stage = rest.split("/", 1)[0]
        if not all((partition, region, account, api_id, stage)):
            raise ValueError("The methodArn has no API id or stage.")
        return cls(partition, region, account, api_id, stage)

    def resource(self, method: str = "*", path: str = "*") -> str:
        return (
            f"arn:{self.partition}:execute-api:{self.region}:{self.account}:"
            f"{self.api_id}/{self.stage}/{method}/{path}"
        )


def policy_document(stage: StageArn, roles: Sequence[str]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ACTION, "Resource": [stage.resource()]}
    ]
    if ADMIN_ROLE not in roles:
        statements.append(
            {
                "Effect": "Deny",
                "Action": ACTION,
                "Resource": [
                    stage.resource(path=ADMIN_PATH),
                    stage.resource(path=f"{ADMIN_PATH}/*"),
                ],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def enrollment_policy_document(stage: StageArn) -> dict[str, Any]:
    """An enrolment token (``mfa=required``) may call the enrolment routes and nothing else:
    every other route is implicitly denied (403), also while this answer is cached."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ACTION,
                "Resource": [stage.resource(method, path) for method, path in ENROLLMENT_ROUTES],
            }
        ],
    }


def allow_response(claims: dict[str, Any], method_arn: Any) -> dict[str, Any]:
    """The authorizer answer for verified claims (``sub``, ``roles``, ``jti``, ``exp``, and
    ``sid`` when the token has one; ``amr``/``auth_time`` after a sign-in with a second factor:
    the MFA step-up reads them).

    Context values must be strings, numbers or booleans: the roles are comma-joined, the
    ``amr`` values space-joined; ``authTime`` is 0 when the token has none.
    """
    sub: str = claims["sub"]
    roles = [role for role in claims.get("roles", []) if isinstance(role, str)]
    amr = claims.get("amr")
    methods = (
        [m for m in amr if isinstance(m, str) and m.isalnum()] if isinstance(amr, list) else []
    )
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int) or isinstance(auth_time, bool):
        auth_time = 0
    stage = StageArn.from_method_arn(method_arn)
    return {
        "principalId": sub,
        "policyDocument": (
            enrollment_policy_document(stage)
            if claims.get("scope") == ENROLLMENT_SCOPE
            else policy_document(stage, roles)
        ),
        "context": {
            "sub": sub,
            "roles": ",".join(roles),
            "jti": claims["jti"],
            "exp": claims["exp"],
            **session_context(claims),
            "amr": " ".join(methods),
            "authTime": auth_time,
        },
    }


def session_context(claims: dict[str, Any]) -> dict[str, str]:
    """``{"sid"}`` when the token names its session (the refresh family it was issued with)."""
    sid = claims.get("sid")
    return {"sid": sid} if isinstance(sid, str) and sid else {}


def parse_route_scopes(text: Any) -> dict[tuple[str, str], tuple[str, ...]]:
    """``GET/hello=read&admin,POST/hello=write`` -> ``{("GET", "hello"): ("read", "admin"), …}``.

    Stage variable values allow only ``[A-Za-z0-9-._~:/?#&=,]``: routes are comma-separated,
    a route's accepted scopes ``&``-separated (any one of them suffices, as for API Gateway's
    JWT authorizers). Path parameters are written ``*``. ValueError when malformed.
    """
    routes: dict[tuple[str, str], tuple[str, ...]] = {}
    if not isinstance(text, str) or not text:
        return routes
    for entry in text.split(","):
        route, _, scopes = entry.partition("=")
        method, _, path = route.partition("/")
        if not method or not scopes:
            raise ValueError("The stepauthRouteScopes stage variable is malformed.")
        routes[(method.upper(), path.strip("/"))] = tuple(s for s in scopes.split("&") if s)
    return routes


def scoped_allow_response(
    claims: dict[str, Any],
    method_arn: Any,
    route_scopes: dict[tuple[str, str], tuple[str, ...]],
) -> dict[str, Any]:
    """Allow the whole stage, deny each route none of whose scopes the token has."""
    stage = StageArn.from_method_arn(method_arn)
    granted = set(str(claims.get("scope") or "").split())
    denied = [
        stage.resource(method, path or "")
        for (method, path), scopes in sorted(route_scopes.items())
        if not granted.intersection(scopes)
    ]
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ACTION, "Resource": [stage.resource()]}
    ]
    if denied:
        statements.append({"Effect": "Deny", "Action": ACTION, "Resource": denied})
    sub: str = claims["sub"]
    return {
        "principalId": sub,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": {
            "sub": sub,
            "client_id": str(claims.get("client_id", "")),
            "scope": str(claims.get("scope", "")),
            "jti": claims["jti"],
            "exp": claims["exp"],
            **session_context(claims),
        },
    }
