"""CloudWatch Logs: a template's log group adopts the group a Lambda invocation created first.

moto's Lambda creates ``/aws/lambda/<function>`` at its first invocation, whatever the
function's ``LoggingConfig`` says, and the local cloud invokes functions while the stack is
still being created (the custom resource, the stream poller). The template's
``AWS::Logs::LogGroup`` for that function, created a moment later, then failed with
``ResourceAlreadyExistsException`` and the whole deploy with it (seen under load). On AWS the
function references its log group, so the group exists before anything can run; here the
template's group takes over the one the invocation made, with the template's properties.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    """Make CloudFormation's LogGroup creation adopt an existing, un-owned group (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.logs.models import LogGroup, logs_backends

    original = LogGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_or_adopt(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        backend = logs_backends[account_id][region_name]
        name = cloudformation_json.get("Properties", {}).get("LogGroupName") or resource_name
        existing = backend.groups.get(name)
        if existing is None:
            return original(
                cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
        properties = cloudformation_json.get("Properties", {})
        if "RetentionInDays" in properties:
            backend.put_retention_policy(name, int(properties["RetentionInDays"]))
        tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
        if tags:
            backend.tag_log_group(name, tags)
        return existing

    LogGroup.create_from_cloudformation_json = classmethod(create_or_adopt)  # type: ignore[method-assign]
    _applied = True
