"""IAM enforced in the local cloud, from the synthesized template.

On AWS every call a Lambda, a state machine Task or an API integration makes is signed as a
role, and IAM allows it only if one of that role's policies allows the action on the resource
(and none denies it). moto 5.2.5 can enforce IAM but resolves DynamoDB, Step Functions, Secrets
Manager and Lambda resources as ``*`` and treats ``TransactWriteItems`` as its own action, so it
would accept a policy scoped to the wrong table. This module evaluates the template's policies
itself:

* :class:`PolicyEvaluator` holds each role's statements (inline ``Policies``, ``AWS::IAM::Policy``
  and ``AWS::IAM::ManagedPolicy`` attached to it, AWS managed policies from moto's copy), resolved
  against the deployed stack. Evaluation is IAM's for identity policies without conditions: an
  explicit ``Deny`` wins, otherwise an ``Allow`` is needed; ``Action``/``NotAction`` and
  ``Resource``/``NotResource`` with ``*`` and ``?`` wildcards (actions case-insensitive). A
  statement with a ``Condition`` is refused at load time: none is needed today, and silently
  ignoring one would allow more than AWS.
* :func:`authorization_requests` turns one API call into the (action, resource ARN) pairs IAM
  checks: ``TransactWriteItems`` as its inner ``PutItem``/``UpdateItem``/``DeleteItem``/
  ``ConditionCheckItem``, a ``Query`` on an index as the index ARN, ``PutEvents`` per bus, a
  secret by its full ARN, SES v2 ``SendEmail`` on the sender's identity, and so on
  (``SendTaskSuccess`` and other task-token calls name no resource: ``*``, as on AWS).
* The principal of the running code is a context variable set by :func:`acting_as` where the
  local cloud runs code as a role (in-process Lambda handlers, state machine executions, API
  integrations). Every botocore client in the process checks its calls against it
  (``before-parameter-build`` hook, installed by :func:`install`); code running as no role
  (operators, tests, the deployment) calls as an administrator, like the documented local keys.
* A refused call raises ``ClientError`` with ``AccessDeniedException`` and AWS's message shape.
  Every allowed call records which statement actions allowed it, so :meth:`unused_grants`
  lists the grants nothing exercised (least privilege).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger("stepauth.iam")

_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stepauth_iam_principal", default=None
)
_evaluator: PolicyEvaluator | None = None
_installed = False
_install_lock = threading.Lock()


AWS_MANAGED = "arn:aws:iam::aws:policy/"


class PolicyError(ValueError):
    """A policy the evaluator cannot evaluate faithfully (it would rather refuse to start)."""


@dataclass(frozen=True)
class Grant:
    """One action pattern of one Allow statement of a role: the unit least privilege counts."""

    role: str  # the role's logical id
    policy: str  # the policy's logical id or name
    action: str
    resources: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.role}: {self.action} on {', '.join(self.resources)} ({self.policy})"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    policy: str

    def matching_actions(self, action: str) -> tuple[str, ...]:
        """The action patterns of this statement that cover ``action`` (empty: no match)."""
        if self.not_actions:
            return () if any(_action_match(p, action) for p in self.not_actions) else ("NotAction",)
        return tuple(p for p in self.actions if _action_match(p, action))

    def covers_resource(self, resource: str) -> bool:
        if self.not_resources:
            return not any(_resource_match(p, resource) for p in self.not_resources)
        return any(_resource_match(p, resource) for p in self.resources)


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_match(pattern: str, action: str) -> bool:
    return _pattern(pattern, True).fullmatch(action) is not None


def _resource_match(pattern: str, resource: str) -> bool:
    return _pattern(pattern, False).fullmatch(resource) is not None


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return (str(value),)


def statements_of(document: dict[str, Any], policy: str) -> list[Statement]:
    """The statements of a resolved policy document (conditions are refused, see module doc)."""
    raw = document.get("Statement", [])
    statements = []
    for item in raw if isinstance(raw, list) else [raw]:
        if item.get("Condition"):
            raise PolicyError(f"{policy}: conditions are not evaluated locally")
        if "Principal" in item or "NotPrincipal" in item:
            raise PolicyError(f"{policy}: an identity policy names no principal")
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{policy}: bad Effect {effect!r}")
        statements.append(
            Statement(
                effect=effect,
                actions=_as_tuple(item.get("Action")),
                not_actions=_as_tuple(item.get("NotAction")),
                resources=_as_tuple(item.get("Resource")),
                not_resources=_as_tuple(item.get("NotResource")),
                policy=policy,
            )
        )
    return statements


@dataclass(frozen=True)
class Decision:
    allowed: bool
    grants: tuple[Grant, ...]  # the Allow grants that matched (when allowed)


MAX_REMEMBERED_DECISIONS = 4096


class PolicyEvaluator:
    """Each role's statements, and IAM's decision for (role, action, resource)."""

    def __init__(
        self,
        roles: dict[str, tuple[str, list[Statement]]],
        platform: dict[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        # role ARN -> (logical id, statements)
        self.roles = roles
        # role ARN -> what the AWS service itself does as that role when the role's code runs
        # (Lambda writes the function's logs and traces, Step Functions delivers logs, traces).
        self.platform = platform or {}
        #: Platform uses the role does not allow: on AWS, lost logs or traces (not a failure).
        self.platform_denials: list[str] = []
        self._used: set[Grant] = set()
        self._lock = threading.Lock()
        #: Decisions already made: the statements do not change once the stack is read, and every
        #: call of a warm function asks the same few questions (bounded: cleared when full).
        self._decisions: dict[tuple[str, str, str], Decision] = {}
        #: Requests whose grants are counted as used, and roles whose platform uses are: used
        #: grants only grow, so a warm function's calls need not count them again.
        self._counted: set[tuple[str, str, str]] = set()
        self._platform_counted: set[str] = set()

    @classmethod
    def from_stack(cls, stack: Any) -> PolicyEvaluator:
        """Reads the roles and their policies from a :class:`localcloud.deploy.DeployedStack`."""
        resources = stack.template["Resources"]
        by_logical_id: dict[str, list[Statement]] = {}
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            properties = resource.get("Properties", {})
            statements: list[Statement] = []
            for inline in properties.get("Policies") or []:
                name = f"{logical_id}/{inline.get('PolicyName', 'inline')}"
                statements += statements_of(stack.resolve(inline["PolicyDocument"]), name)
            for arn in stack.resolve(properties.get("ManagedPolicyArns") or []):
                statements += statements_of(_aws_managed_policy(str(arn)), str(arn))
            by_logical_id[logical_id] = statements
        for logical_id, resource in resources.items():
            if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            properties = resource.get("Properties", {})
            statements = statements_of(stack.resolve(properties["PolicyDocument"]), logical_id)
            for role in properties.get("Roles") or []:
                if not (isinstance(role, dict) and role.get("Ref") in by_logical_id):
                    raise PolicyError(f"{logical_id}: attached to a role outside the stack")
                by_logical_id[role["Ref"]] += statements
        roles = {}
        for logical_id, statements in by_logical_id.items():
            arn = str(stack.resolve({"Fn::GetAtt": [logical_id, "Arn"]}))
            roles[arn] = (logical_id, statements)
        return cls(roles, _platform_uses(stack))

    def decide(self, role_arn: str, action: str, resource: str) -> Decision:
        key = (role_arn, action, resource)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decide(role_arn, action, resource)
            if len(self._decisions) >= MAX_REMEMBERED_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _decide(self, role_arn: str, action: str, resource: str) -> Decision:
        if role_arn not in self.roles:
            return Decision(False, ())
        logical_id, statements = self.roles[role_arn]
        grants: list[Grant] = []
        for statement in statements:
            patterns = statement.matching_actions(action)
            if not patterns or not statement.covers_resource(resource):
                continue
            if statement.effect == "Deny":
                return Decision(False, ())
            grants += [
                Grant(logical_id, statement.policy, pattern, statement.resources)
                for pattern in patterns
            ]
        return Decision(bool(grants), tuple(grants))

    def authorize(self, role_arn: str, requests: Iterable[tuple[str, str]]) -> None:
        """Raises :class:`AccessDenied` for the first request the role may not make.

        Only the stack's roles are enforced: a role created by hand in the local cloud (tests
        of the local cloud itself do so) is not checked (README, known differences).
        """
        if role_arn not in self.roles:
            return
        uncounted = []
        for action, resource in requests:
            decision = self.decide(role_arn, action, resource)
            if not decision.allowed:
                raise AccessDenied(role_arn, action, resource)
            key = (role_arn, action, resource)
            if key not in self._counted:
                uncounted.append((key, decision))
        if uncounted:
            with self._lock:
                if len(self._counted) >= MAX_REMEMBERED_DECISIONS:
                    self._counted.clear()  # bounded as the decisions are: counting again is safe
                for key, decision in uncounted:
                    self._used.update(decision.grants)
                    self._counted.add(key)

    def record_platform_use(self, role_arn: str) -> None:
        """What the service does as ``role_arn`` around its code: allowed uses count as used."""
        if role_arn in self._platform_counted:
            return  # the same uses every time: counted (and any denial logged) once
        for action, resource in self.platform.get(role_arn, []):
            decision = self.decide(role_arn, action, resource)
            with self._lock:
                if decision.allowed:
                    self._used.update(decision.grants)
                    continue
                denial = f"{role_arn} may not {action} on {resource}"
                if denial not in self.platform_denials:
                    LOG.error("the service cannot act for its role: %s", denial)
                    self.platform_denials.append(denial)
        self._platform_counted.add(role_arn)

    def all_grants(self) -> set[Grant]:
        """Every grant the stack authors (AWS managed policies are AWS's, not counted)."""
        return {
            Grant(logical_id, statement.policy, action, statement.resources)
            for logical_id, statements in self.roles.values()
            for statement in statements
            if statement.effect == "Allow" and not statement.policy.startswith(AWS_MANAGED)
            for action in (statement.actions or ("NotAction",))
        }

    def used_grants(self) -> set[Grant]:
        with self._lock:
            return set(self._used)

    def unused_grants(self) -> set[Grant]:
        return self.all_grants() - self.used_grants()

    def used_records(self) -> list[list[str]]:
        """The used grants as JSON-ready ``[role, policy, action]`` (see :meth:`absorb_records`)."""
        return sorted([g.role, g.policy, g.action] for g in self.used_grants())

    def absorb_records(self, records: Iterable[Iterable[str]]) -> None:
        """Count as used the grants another local cloud of the same app reported used (a
        ``stepauth local`` child process with another configuration). Matched by role, policy
        and action: the resources hold names the other deployment generated differently."""
        used = {tuple(record) for record in records}
        with self._lock:
            self._used |= {g for g in self.all_grants() if (g.role, g.policy, g.action) in used}

    def absorb(self, other: PolicyEvaluator) -> None:
        """Count grants ``other`` (a variant of these policies) saw used as used here too."""
        with self._lock:
            self._used |= other.used_grants() & self.all_grants()


_LAMBDA_LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
_TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# What CDK grants a state machine role for CloudWatch Logs delivery (AWS documents these on *).
_LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
_STATE_MACHINE_TRACE_ACTIONS = (*_TRACE_ACTIONS, "xray:GetSamplingRules", "xray:GetSamplingTargets")


def _platform_uses(stack: Any) -> dict[str, list[tuple[str, str]]]:
    uses: dict[str, list[tuple[str, str]]] = {}
    region, account = stack.region, stack.account_id
    for resource in stack.template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and "Role" in properties:
            role = str(stack.resolve(properties["Role"]))
            group = stack.resolve((properties.get("LoggingConfig") or {}).get("LogGroup"))
            if not group:
                name = stack.resolve(properties.get("FunctionName", ""))
                group = f"/aws/lambda/{name}"
            group_arn = _arn("logs", region, account, f"log-group:{group}")
            found = uses.setdefault(role, [])
            found += [(action, f"{group_arn}:*") for action in _LAMBDA_LOG_ACTIONS]
            if (properties.get("TracingConfig") or {}).get("Mode") == "Active":
                found += [(action, "*") for action in _TRACE_ACTIONS]
        elif resource["Type"] == "AWS::StepFunctions::StateMachine" and "RoleArn" in properties:
            role = str(stack.resolve(properties["RoleArn"]))
            found = uses.setdefault(role, [])
            if properties.get("LoggingConfiguration"):
                found += [(action, "*") for action in _LOG_DELIVERY_ACTIONS]
            if (properties.get("TracingConfiguration") or {}).get("Enabled"):
                found += [(action, "*") for action in _STATE_MACHINE_TRACE_ACTIONS]
    return uses


@functools.lru_cache(maxsize=64)
def _aws_managed_policy(arn: str) -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[-1]
    policies = json.loads(aws_managed_policies_data)
    if name not in policies:
        raise PolicyError(f"unknown AWS managed policy {arn}")
    return dict(policies[name]["Document"])


class AccessDenied(Exception):
    """A call the principal's policies do not allow; surfaces as AWS's AccessDeniedException."""

    def __init__(self, role_arn: str, action: str, resource: str) -> None:
        self.role_arn = role_arn
        self.action = action
        self.resource = resource
        role = role_arn.rsplit("/", 1)[-1]
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "000000000000"
        super().__init__(
            f"User: arn:aws:sts::{account}:assumed-role/{role}/local is not authorized to "
            f"perform: {action} on resource: {resource} because no identity-based policy "
            f"allows the {action} action"
        )


# --------------------------------------------------------------------------------------------
# What IAM checks for one API call


def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _table_arn(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")


_TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _dynamodb(operation: str, params: dict[str, Any], region: str, account: str) -> list[Any]:
    if operation == "TransactWriteItems":
        found = []
        for item in params.get("TransactItems", []):
            for kind, action in _TRANSACT_WRITE_ACTIONS.items():
                if kind in item:
                    found.append(
                        (f"dynamodb:{action}", _table_arn(item[kind]["TableName"], region, account))
                    )
        return found
    if operation == "TransactGetItems":
        return [
            ("dynamodb:GetItem", _table_arn(item["Get"]["TableName"], region, account))
            for item in params.get("TransactItems", [])
        ]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [
            (f"dynamodb:{operation}", _table_arn(name, region, account))
            for name in params.get("RequestItems", {})
        ]
    if "TableName" in params:
        arn = _table_arn(params["TableName"], region, account)
        if params.get("IndexName"):
            arn += f"/index/{params['IndexName']}"
        return [(f"dynamodb:{operation}", arn)]
    return [(f"dynamodb:{operation}", "*")]


def _stepfunctions(operation: str, params: dict[str, Any]) -> list[Any]:
    for key in ("stateMachineArn", "executionArn", "activityArn", "mapRunArn"):
        if key in params:
            return [(f"states:{operation}", str(params[key]))]
    return [(f"states:{operation}", "*")]


def _secret_arn(secret_id: str, region: str, account: str) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[account][region]
        return str(backend.describe_secret(secret_id).arn)
    except Exception:  # noqa: BLE001 - unknown secret: IAM still checks a name-shaped ARN
        return _arn("secretsmanager", region, account, f"secret:{secret_id}")


def _event_bus_arn(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else _arn("events", region, account, f"event-bus/{name}")


def _function_arn(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        parts = name.split(":")
        return ":".join(parts[:7])  # without a version or alias qualifier
    return _arn("lambda", region, account, f"function:{name.split(':')[0]}")


def _kms_key_arn(params: dict[str, Any], region: str, account: str) -> str:
    """The key a KMS call uses: its ``KeyId`` (an ARN or an id), else, for a ``Decrypt`` that
    names none, the key recorded in the ciphertext (AWS reads it from the blob's metadata; moto's
    blob starts with the key id). IAM checks the key's ARN either way."""
    key = str(params.get("KeyId") or "")
    if not key:
        blob = params.get("CiphertextBlob")
        try:
            from moto.kms.utils import _deserialize_ciphertext_blob

            key = _deserialize_ciphertext_blob(bytes(blob)).key_id  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - not a moto ciphertext: IAM checks an unknown key
            return _arn("kms", region, account, "key/unknown")
    return key if key.startswith("arn:") else _arn("kms", region, account, f"key/{key}")


def _ses_identity_arn(from_address: str, region: str, account: str) -> str:
    """SES v2 SendEmail is authorised on the sending identity: the address when it is itself a
    verified identity, else its domain (SES's own precedence)."""
    address = from_address.rsplit("<", 1)[-1].rstrip(">").strip()
    identity = address
    try:
        from moto.sesv2.models import sesv2_backends

        known = sesv2_backends[account][region].core_backend.email_identities
        if address not in known:
            identity = address.split("@", 1)[-1]
    except Exception:  # noqa: BLE001 - no SES state yet: the address names the identity
        identity = address
    return _arn("ses", region, account, f"identity/{identity}")


def authorization_requests(
    service: str, operation: str, params: dict[str, Any], region: str, account: str
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS checks for one call (botocore names in)."""
    if service == "dynamodb":
        return _dynamodb(operation, params, region, account)
    if service == "dynamodbstreams":
        return [(f"dynamodb:{operation}", str(params.get("StreamArn", "*")))]
    if service == "stepfunctions":
        return _stepfunctions(operation, params)
    if service == "secretsmanager" and "SecretId" in params:
        return [
            (f"secretsmanager:{operation}", _secret_arn(str(params["SecretId"]), region, account))
        ]
    if service == "events" and operation == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])}
        return [("events:PutEvents", _event_bus_arn(bus, region, account)) for bus in sorted(buses)]
    if service == "lambda" and "FunctionName" in params:
        action = "InvokeFunction" if operation == "Invoke" else operation
        return [(f"lambda:{action}", _function_arn(str(params["FunctionName"]), region, account))]
    if service == "sqs" and "QueueUrl" in params:
        name = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        return [(f"sqs:{operation}", _arn("sqs", region, account, name))]
    if service == "sesv2" and operation == "SendEmail" and params.get("FromEmailAddress"):
        identity = _ses_identity_arn(str(params["FromEmailAddress"]), region, account)
        return [("ses:SendEmail", identity)]
    if service == "kms" and ("KeyId" in params or "CiphertextBlob" in params):
        return [(f"kms:{operation}", _kms_key_arn(params, region, account))]
    prefix = {"sesv2": "ses", "cloudwatch": "cloudwatch", "logs": "logs"}.get(service, service)
    return [(f"{prefix}:{operation}", "*")]


# --------------------------------------------------------------------------------------------
# Who is calling, and the hook on every botocore client


def current_principal() -> str | None:
    return _principal.get()


@contextmanager
def acting_as(role_arn: str | None, *, service_uses: bool = False) -> Iterator[None]:
    """Code inside runs as ``role_arn`` (None: as no role, i.e. the local administrator).

    ``service_uses``: the service also acts as the role around the code (a function's logs and
    traces, a workflow's log delivery and traces); see :meth:`PolicyEvaluator.record_platform_use`.
    """
    if service_uses and role_arn and _evaluator is not None:
        _evaluator.record_platform_use(role_arn)
    token = _principal.set(role_arn)
    try:
        yield
    finally:
        _principal.reset(token)


def enable(evaluator: PolicyEvaluator | None) -> None:
    """Enforce ``evaluator``'s policies from now on (None turns enforcement off)."""
    global _evaluator
    install()
    _evaluator = evaluator


def evaluator() -> PolicyEvaluator | None:
    return _evaluator


def check(role_arn: str, requests: Iterable[tuple[str, str]]) -> None:
    """Authorize requests made as ``role_arn`` outside a botocore client (e.g. stream polling)."""
    if _evaluator is not None:
        _evaluator.authorize(role_arn, requests)


def authorize_call(service: str, operation: str, params: dict[str, Any]) -> None:
    """IAM's decision on one call made now by the running code (botocore's service and
    operation names); ``ClientError`` with ``AccessDeniedException`` when it is refused.

    Every botocore client runs this before building a request; code that reaches a service
    without a client (``localcloud/inprocess.py``'s Lambda Tasks) runs it itself."""
    role_arn = _principal.get()
    if role_arn is None or _evaluator is None:
        return
    region, account = _region_and_account(role_arn)
    requests = authorization_requests(service, operation, params, region, account)
    try:
        _evaluator.authorize(role_arn, requests)
    except AccessDenied as denied:
        from botocore.exceptions import ClientError

        LOG.warning("access denied: %s may not %s on %s", role_arn, denied.action, denied.resource)
        raise ClientError(
            {
                "Error": {"Code": "AccessDeniedException", "Message": str(denied)},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            operation,
        ) from None


def _before_parameter_build(params: dict[str, Any], model: Any, **_: Any) -> None:
    authorize_call(model.service_model.service_name, model.name, params)


def _region_and_account(role_arn: str) -> tuple[str, str]:
    import os

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "123456789012"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return region, account


def install() -> None:
    """Every botocore client created from now on checks its calls (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from botocore.session import Session

        original = Session.create_client

        @functools.wraps(original)
        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            client.meta.events.register_first(
                "before-parameter-build", _before_parameter_build, unique_id="stepauth-iam"
            )
            return client

        Session.create_client = create_client  # type: ignore[method-assign]
        _installed = True
