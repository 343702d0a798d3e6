"""Deployment knobs of the stack, read from CDK context (``-c key=value`` or cdk.json).

One table of defaults lives here; README.md documents the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from constructs import Node


@dataclass(frozen=True)
class StackConfig:
    stack_name: str = "stepauth"
    token_issuer: str = "stepauth"  # noqa: S105 - a name, not a secret
    token_audience: str = "stepauth-api"  # noqa: S105 - a name, not a secret
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
    authorizer_cache_ttl_seconds: int = 300
    audit_retention_days: int = 400
    cleanup_batch_size: int = 100
    cleanup_retry_attempts: int = 5

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
        if self.argon2_memory_kib < 19456 or self.argon2_time_cost < 2:
            raise ValueError("argon2 parameters must be at least the OWASP minimum (m=19456, t=2)")


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    try:
        if kind == "int":
            return int(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            return str(raw).lower() in ("1", "true", "yes")
        return str(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"context value {name}={raw!r} is not a valid {kind}") from error
