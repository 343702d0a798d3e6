"""Deployment knobs of the stack, read from CDK context (``-c key=value`` or cdk.json).

One table of defaults lives here; README.md documents the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from constructs import Node


@dataclass(frozen=True)
class StackConfig:
    stack_name: str = "stepauth"
    #: The issuer URL (``iss``). Empty: the REST API's stage URL. Also the default of the
    #: template's ``IssuerUrl`` parameter (a custom domain, or the local gateway's URL).
    token_issuer: str = ""
    token_audience: str = "stepauth-api"  # noqa: S105 - a name, not a secret
    #: ES256 (what API Gateway's JWT authorizers accept) or Ed25519 (RFC 9864's name).
    token_signing_algorithm: str = "ES256"  # noqa: S105 - an algorithm name
    #: JSON list ``[{"client_id", "audience", "scopes": [...]}]``; the first is the default.
    #: Empty: one client ``stepauth`` for ``token_audience`` with no scopes.
    clients: str = ""
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_min_length: int = 15
    lambda_architecture: str = "x86_64"
    log_retention_days: int = 30
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100
    retain_data: bool = True
    refresh_reuse_grace_seconds: int = 10
    uniform_registration: bool = False
    lockout_free_attempts: int = 4
    lockout_max_seconds: int = 900
    lockout_reset_seconds: int = 900
    # The bound on how long a revoked access token still works, on every route (README).
    authorizer_cache_ttl_seconds: int = 60
    audit_retention_days: int = 400
    cleanup_batch_size: int = 100
    cleanup_retry_attempts: int = 5
    # Largest request body handed to a workflow; larger ones are 413 before any execution
    # starts. Its base64 text must stay well inside StartSyncExecution's 256 KB input.
    max_body_bytes: int = 16_384
    # Account lifecycle (cdk/lifecycle_workflows.py). required: no tokens until the email is
    # verified; optional: tokens at once, verification still offered; off: no verification.
    email_verification: str = "required"
    email_sender: str = "no-reply@stepauth.example.com"
    mail_service_name: str = "stepauth"
    link_base_url: str = "http://127.0.0.1:8080"
    verification_timeout_seconds: int = 86_400
    verification_timeout_action: str = "keep"
    verification_max_resends: int = 3
    reset_code_ttl_seconds: int = 3600
    email_sends_per_hour: int = 5
    # Multi-factor sign-in (cdk/mfa_workflows.py). optional: each account chooses; required: an
    # account without MFA gets no session, only a short-lived token that can enrol (README).
    mfa: str = "optional"
    # ``aud`` of the enrolment token of mfa=required; empty: ``<token_audience>:mfa-enroll``.
    # Its own, so that APIs accepting stepauth's audience (JWT authorizers) refuse it.
    mfa_enrollment_audience: str = ""

    @classmethod
    def from_context(cls, node: Node) -> StackConfig:
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = node.try_get_context(field.name)
            if raw is None:
                continue
            values[field.name] = _coerce(field.name, raw, field.type)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        validate_stack_name(self.stack_name)
        from steps.core.config import (
            ENROLLMENT_AUDIENCE_SUFFIX,
            SIGNING_ALGORITHMS,
            parse_clients,
        )

        if self.token_signing_algorithm not in SIGNING_ALGORITHMS:
            raise ValueError(f"token_signing_algorithm must be one of {SIGNING_ALGORITHMS}")
        if self.token_issuer and not self.token_issuer.startswith(("https://", "http://")):
            raise ValueError("token_issuer must be a URL (https://…)")
        clients = parse_clients(self.clients, default_audience=self.token_audience)
        enrollment_audience = (
            self.mfa_enrollment_audience or f"{self.token_audience}{ENROLLMENT_AUDIENCE_SUFFIX}"
        )
        if enrollment_audience in {self.token_audience, *(c.audience for c in clients)}:
            raise ValueError("mfa_enrollment_audience must differ from every token audience")
        if self.lambda_architecture not in ("x86_64", "arm64"):
            raise ValueError("lambda_architecture must be x86_64 or arm64")
        if self.password_min_length < 8:
            raise ValueError("password_min_length must be at least 8 (NIST SP 800-63B-4)")
        if self.access_token_ttl_seconds <= 0 or self.refresh_token_ttl_seconds <= 0:
            raise ValueError("token lifetimes must be positive")
        if self.lockout_free_attempts < 1 or self.lockout_max_seconds < 1:
            raise ValueError("lockout_free_attempts and lockout_max_seconds must be positive")
        if self.lockout_reset_seconds < 60:
            raise ValueError("lockout_reset_seconds must be at least 60")
        if not 0 <= self.refresh_reuse_grace_seconds <= 300:
            raise ValueError("refresh_reuse_grace_seconds must be between 0 and 300")
        if not 0 <= self.authorizer_cache_ttl_seconds <= 3600:
            raise ValueError("authorizer_cache_ttl_seconds must be between 0 and 3600")
        if self.audit_retention_days < 1:
            raise ValueError("audit_retention_days must be at least 1")
        if not 1 <= self.cleanup_batch_size <= 10000:
            raise ValueError("cleanup_batch_size must be between 1 and 10000")
        if not 0 <= self.cleanup_retry_attempts <= 10000:
            raise ValueError("cleanup_retry_attempts must be between 0 and 10000")
        if not 256 <= self.max_body_bytes <= 131_072:
            raise ValueError("max_body_bytes must be between 256 and 131072")
        if self.email_verification not in ("required", "optional", "off"):
            raise ValueError("email_verification must be required, optional or off")
        if self.mfa not in ("optional", "required"):
            raise ValueError("mfa must be optional or required")
        if self.verification_timeout_action not in ("keep", "remove"):
            raise ValueError("verification_timeout_action must be keep or remove")
        if not 60 <= self.verification_timeout_seconds <= 7 * 86_400:
            raise ValueError("verification_timeout_seconds must be between 60 and 604800")
        if not 0 <= self.verification_max_resends <= 20 or not 1 <= self.email_sends_per_hour:
            raise ValueError("verification_max_resends (0-20), email_sends_per_hour (>= 1)")
        if self.argon2_memory_kib < 19456 or self.argon2_time_cost < 2:
            raise ValueError("argon2 parameters must be at least the OWASP minimum (m=19456, t=2)")


#: CloudFormation's rule for stack names.
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]*")
STACK_NAME_MAX_LENGTH = 128


def validate_stack_name(name: str) -> None:
    """CloudFormation's own rule: 1-128 characters, a letter then letters, digits, hyphens.

    Names derived from it have tighter limits; ``check_derived_names`` checks those once the
    stack is built.
    """
    if not isinstance(name, str) or not _STACK_NAME.fullmatch(name):
        raise ValueError(
            f"stack_name {name!r} is not a CloudFormation stack name: it must start with a "
            "letter and contain only letters, digits and hyphens"
        )
    if len(name) > STACK_NAME_MAX_LENGTH:
        raise ValueError(
            f"stack_name is {len(name)} characters long; CloudFormation allows at most "
            f"{STACK_NAME_MAX_LENGTH}"
        )


#: AWS limits on the names the stack derives from its name: (CloudFormation type, the L1
#: construct's attribute, the service's maximum length).
DERIVED_NAME_LIMITS = {
    "AWS::Lambda::Function": ("function_name", 64),
    "AWS::StepFunctions::StateMachine": ("state_machine_name", 80),
    "AWS::SQS::Queue": ("queue_name", 80),
    "AWS::DynamoDB::Table": ("table_name", 255),
    "AWS::Logs::LogGroup": ("log_group_name", 512),
    "AWS::SecretsManager::Secret": ("name", 512),
    "AWS::CloudWatch::Alarm": ("alarm_name", 255),
    "AWS::ApiGateway::Authorizer": ("name", 128),
}


def derived_name_errors(stack_name: str, resources: Any) -> list[str]:
    """Names of ``resources`` (L1 constructs) that AWS would refuse as too long, explained."""
    errors = []
    for resource in resources:
        limit = DERIVED_NAME_LIMITS.get(getattr(resource, "cfn_resource_type", ""))
        if limit is None:
            continue
        attribute, maximum = limit
        value = getattr(resource, attribute, None)
        if isinstance(value, str) and len(value) > maximum:
            shortest = max(len(stack_name) - (len(value) - maximum), 0)
            errors.append(
                f"stack_name {stack_name!r} is too long: {resource.cfn_resource_type} name "
                f"{value!r} is {len(value)} characters and AWS allows {maximum}; use a "
                f"stack_name of at most {shortest} characters"
            )
    return errors


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    try:
        if kind == "int":
            return int(raw)
        if kind == "str" and isinstance(raw, list | dict):
            import json

            return json.dumps(raw)  # JSON given as JSON in cdk.json
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            return str(raw).lower() in ("1", "true", "yes")
        return str(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"context value {name}={raw!r} is not a valid {kind}") from error
