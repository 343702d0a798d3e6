"""``stepauth cost``: the monthly AWS bill of a stepauth deployment, read off its template.

What each API operation uses comes from the synthesized CloudFormation template: the route's
integration (a workflow, a direct DynamoDB action or a Lambda proxy) and its authorizer; each
workflow's success path through its ASL (Task and Pass states); the Lambda functions each Task
calls, their MemorySize and architecture; the direct DynamoDB operations of the ASL and their
request units. What the template cannot say is declared here: the table operations the Lambda
steps make themselves (``STEP_TABLE_OPERATIONS``), the prices (``PRICES_AS_OF``) and a few
modelling assumptions, each a named constant.

Step durations are the medians measured by ``make bench`` (``bench/results/latest.json``) when
that file exists, else ``DEFAULT_STEP_DURATIONS``. A duration measured on a full local core is
stretched for Lambda's CPU share: below 1,769 MB a function gets that fraction of a vCPU, so
its CPU time is scaled by 1769/MemorySize; time spent waiting (wall minus CPU) is kept as is.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCH_RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.json"

# -- prices (us-east-1) --------------------------------------------------------------------------
# Public AWS list prices for us-east-1 as I assert them for the date below. They were NOT fetched
# (the machine this was written on has no internet): they are the published prices as known on
# that date. Check https://aws.amazon.com/pricing/ before relying on a figure. Free tiers of the
# stepauth services are ignored (the estimate is the bill once they are used up); Cognito's
# 10,000-MAU free tier is applied, as AWS bills it.
PRICES_AS_OF = "2025-01-15"
REGION = "us-east-1"
INF = math.inf

#: (units in the tier, USD per unit), tiers in order; the last tier is unbounded.
Tiers = tuple[tuple[float, float], ...]

#: API Gateway REST API requests: $3.50/M for the first 333 M, $2.80/M next 667 M,
#: $2.38/M next 19 B, $1.51/M beyond.
API_GATEWAY_REST_TIERS: Tiers = (
    (333e6, 3.50e-6),
    (667e6, 2.80e-6),
    (19e9, 2.38e-6),
    (INF, 1.51e-6),
)
#: Step Functions Express: $1.00 per million requests (executions).
SFN_EXPRESS_REQUEST_USD = 1.00e-6
#: Express duration: $0.06/GB-hour for the first 1,000 K GB-hours, $0.03 the next 4,000 K,
#: $0.01642 beyond (per GB-second below); billed in 64 MB steps and 100 ms steps.
SFN_EXPRESS_GB_SECOND_TIERS: Tiers = (
    (3.6e9, 0.00001667),
    (14.4e9, 0.00000833),
    (INF, 0.00000456),
)
SFN_EXPRESS_MEMORY_STEP_MB = 64
SFN_EXPRESS_DURATION_STEP_MS = 100
#: Lambda: $0.20 per million requests; GB-seconds by architecture (billed per 1 ms).
LAMBDA_REQUEST_USD = 0.20e-6
LAMBDA_GB_SECOND_TIERS: dict[str, Tiers] = {
    "x86_64": ((6e9, 0.0000166667), (9e9, 0.000015), (INF, 0.0000133334)),
    "arm64": ((7.5e9, 0.0000133334), (11.25e9, 0.0000120001), (INF, 0.0000106667)),
}
#: DynamoDB on-demand (since the 2024-11-01 price cut): $0.625 per million write request
#: units, $0.125 per million read request units. Storage and PITR are not modelled.
DYNAMODB_WRITE_UNIT_USD = 0.625e-6
DYNAMODB_READ_UNIT_USD = 0.125e-6
#: Secrets Manager: $0.40 per secret-month, $0.05 per 10,000 API calls.
SECRET_MONTH_USD = 0.40
SECRETS_API_CALL_USD = 0.05 / 10_000
#: CloudWatch Logs ingestion (standard class; vended logs start at the same $0.50/GB).
LOGS_INGESTION_GB_USD = 0.50
#: Cognito user pools, by monthly active user (pricing of 2024-11-22): Lite and Essentials with
#: the 10,000-MAU free tier.
COGNITO_LITE_TIERS: Tiers = (
    (10_000, 0.0),
    (90_000, 0.0055),
    (900_000, 0.0046),
    (9_000_000, 0.00325),
    (INF, 0.0025),
)
COGNITO_ESSENTIALS_TIERS: Tiers = ((10_000, 0.0), (INF, 0.015))

# -- modelling assumptions ------------------------------------------------------------------------
#: AWS's own monthly estimates use 730 hours.
SECONDS_PER_MONTH = 730 * 3600
#: A Lambda function gets one full vCPU at 1,769 MB, proportionally less below.
FULL_VCPU_MEMORY_MB = 1769
#: Added to an Express execution per Lambda Task for the invoke itself (assumed, not measured).
LAMBDA_TASK_OVERHEAD_MS = 20.0
#: One direct DynamoDB integration Task (assumed).
DYNAMODB_TASK_MS = 10.0
#: One Pass, Choice, Succeed or other non-Task state (assumed).
OTHER_STATE_MS = 1.0
#: Express memory: the workflows' definitions and payloads are far below the 64 MB step.
EXPRESS_MEMORY_MB = 64
#: Lambda platform log lines per invocation (START, END, REPORT), in bytes (assumed).
LAMBDA_PLATFORM_LOG_BYTES = 350
#: One Express history event logged at level ALL without execution data, in bytes (assumed).
HISTORY_EVENT_LOG_BYTES = 400
#: Default quotas the capacity plan compares against (AWS defaults as known; raisable).
LAMBDA_REGIONAL_CONCURRENCY = 1000
API_GATEWAY_ACCOUNT_RPS = 10_000
DYNAMODB_TABLE_UNITS_PER_SECOND = 40_000

#: The API operations the model prices, and their routes.
OPERATION_ROUTES: dict[str, tuple[str, str]] = {
    "register": ("POST", "/v1/register"),
    "login": ("POST", "/v1/login"),
    "refresh": ("POST", "/v1/token/refresh"),
    "logout": ("POST", "/v1/logout"),
}


@dataclass(frozen=True)
class RequestUnits:
    """DynamoDB on-demand request units (items up to 1 KB written, 4 KB read: one unit each)."""

    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: RequestUnits) -> RequestUnits:
        return RequestUnits(self.read + other.read, self.write + other.write)


#: The table operations each Lambda step makes itself, per invocation on its success path, keyed
#: by (workflow name suffix or "*", handler). A transactional write costs 2 WRU per item; a write
#: of an item carrying gsi1 keys costs 1 more WRU for the index copy (projection ALL); a strongly
#: consistent read 1 RRU, an eventually consistent read or a Query 0.5 RRU.
STEP_TABLE_OPERATIONS: dict[tuple[str, str], RequestUnits] = {
    # ValidateRegistration: checks the request; no table access (the putItem is in the ASL).
    ("*", "steps.validate_registration.handler"): RequestUnits(),
    # ValidateLogin: checks the request; the user item is read by the ASL's FindUser getItem.
    ("*", "steps.validate_login.handler"): RequestUnits(),
    # HashPassword: argon2id only.
    ("*", "steps.hash_password.handler"): RequestUnits(),
    # VerifyPassword: argon2id against the item FindUser read; no table access.
    ("*", "steps.verify_password.handler"): RequestUnits(),
    # IssueTokens starting a family (Register, Login): one TransactWriteItems putting the family
    # and the token item (2 items x 2 WRU) plus both items' gsi1 copies (2 WRU).
    ("*", "steps.issue_tokens.handler"): RequestUnits(write=6),
    # ValidateRefresh: hashes the presented token; no table access.
    ("*", "steps.validate_refresh.handler"): RequestUnits(),
    # RotateRefreshToken: strongly consistent GetItem of the token, the family and the user
    # (3 RRU) and one TransactWriteItems: spend the token, put its successor, update the family
    # (3 items x 2 WRU) plus their gsi1 copies (3 WRU).
    ("*", "steps.rotate_refresh_token.handler"): RequestUnits(read=3, write=9),
    # ValidateLogout: checks the request; no table access.
    ("*", "steps.validate_logout.handler"): RequestUnits(),
    # EndSessions (one refresh token given): GetItem of the token (1 RRU) and the UpdateItem
    # revoking its family (1 WRU + 1 gsi1 copy). The denylist putItem is in the ASL.
    ("*", "steps.end_sessions.handler"): RequestUnits(read=1, write=2),
    # DisableUser (a user with one family): two gsi1 Queries, the user and the families (2 x 0.5
    # RRU), UpdateItem of the user and of the family (2 x (1 WRU + 1 gsi1 copy)).
    ("*", "steps.disable_user.handler"): RequestUnits(read=1, write=4),
    # DeleteAccount (one family): the same two Queries (1 RRU), the family UpdateItem (2 WRU) and
    # the user DeleteItem (1 WRU + 1 gsi1 copy).
    ("*", "steps.delete_account.handler"): RequestUnits(read=1, write=4),
    # ListSessions: one gsi1 Query of the user's families (0.5 RRU for up to 4 KB of sessions).
    ("*", "steps.list_sessions.handler"): RequestUnits(read=0.5),
    # EndSession: the conditional UpdateItem revoking one family (1 WRU + 1 gsi1 copy).
    ("*", "steps.end_session.handler"): RequestUnits(write=2),
    # StreamCleanup runs on table stream records, behind no API operation: not priced here.
    ("*", "steps.stream_cleanup.handler"): RequestUnits(),
    # PublishJwks: eventually consistent GetItem of the public keys item (0.5 RRU).
    ("*", "steps.publish_jwks.handler"): RequestUnits(read=0.5),
    # The authorizer: strongly consistent GetItem of the token's denylist entry (1 RRU).
    ("*", "authorizer.handler.handler"): RequestUnits(read=1),
}


@dataclass(frozen=True)
class PeriodicRead:
    """A read a warm execution environment repeats on a timer (a cache refresh)."""

    service: str  # "secretsmanager" (API calls) or "dynamodb" (RRU)
    every_seconds: float
    units: float


#: Cache refreshes per warm environment (see steps.core.signing_keys.CACHE_SECONDS and
#: authorizer.keys.MAX_AGE_SECONDS).
PERIODIC_READS: dict[str, PeriodicRead] = {
    # IssueTokens re-reads the private key set (GetSecretValue) every 300 s.
    "steps.issue_tokens.handler": PeriodicRead("secretsmanager", 300.0, 1.0),
    # RotateRefreshToken re-reads the private key set and the refresh key every 300 s.
    "steps.rotate_refresh_token.handler": PeriodicRead("secretsmanager", 300.0, 2.0),
    # The authorizer re-reads the public keys item (strongly consistent GetItem) every 300 s.
    "authorizer.handler.handler": PeriodicRead("dynamodb", 300.0, 1.0),
}


@dataclass(frozen=True)
class StepDuration:
    """A handler's warm invocation measured locally on a full core: wall and CPU ms, log bytes."""

    wall_ms: float
    cpu_ms: float
    log_bytes: float = 300.0

    def billed_ms(self, memory_mb: int) -> int:
        """The Lambda billed duration at ``memory_mb`` (1 ms steps, at least 1 ms)."""
        cpu_share = min(1.0, memory_mb / FULL_VCPU_MEMORY_MB)
        waiting = max(0.0, self.wall_ms - self.cpu_ms)
        return max(1, math.ceil(self.cpu_ms / cpu_share + waiting))


#: Used when no bench results exist: warm medians (wall ms, CPU ms of the handler's thread, log
#: bytes) of the `make bench` run in BENCHMARKS.md (2026-11-22, AMD EPYC, 2 busy cores, local
#: cloud: the waits are moto's, not DynamoDB's). The three marked "est." were not exercised by
#: that run and are estimated from their closest measured sibling.
DEFAULT_STEP_DURATIONS: dict[str, StepDuration] = {
    "steps.validate_registration.handler": StepDuration(0.4, 0.4, 243),
    "steps.validate_login.handler": StepDuration(0.3, 0.3, 236),
    "steps.hash_password.handler": StepDuration(41.6, 24.1, 179),
    "steps.verify_password.handler": StepDuration(35.2, 24.6, 230),
    "steps.issue_tokens.handler": StepDuration(28.7, 2.9, 283),
    "steps.validate_refresh.handler": StepDuration(0.3, 0.3, 238),
    "steps.rotate_refresh_token.handler": StepDuration(31.7, 7.6, 291),
    "steps.validate_logout.handler": StepDuration(0.3, 0.3, 286),
    "steps.end_sessions.handler": StepDuration(24.0, 5.1, 297),
    "steps.end_session.handler": StepDuration(24.0, 5.1, 297),  # est.: as end_sessions
    "steps.list_sessions.handler": StepDuration(24.0, 5.1, 297),  # est.: as end_sessions
    "steps.disable_user.handler": StepDuration(100.2, 9.2, 285),  # est.: as delete_account
    "steps.delete_account.handler": StepDuration(100.2, 9.2, 285),
    "steps.publish_jwks.handler": StepDuration(5.1, 1.9, 234),
    "steps.stream_cleanup.handler": StepDuration(68.5, 5.1, 829),
    "authorizer.handler.handler": StepDuration(8.5, 3.0, 239),
}
UNKNOWN_STEP_DURATION = StepDuration(20.0, 5.0, 350)


# -- reading the template --------------------------------------------------------------------------

ACCOUNT = "123456789012"
_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


def _resources(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def lambda_arn(logical_id: str) -> str:
    """The placeholder ARN a function's ``Fn::GetAtt Arn`` resolves to in this model."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def resolve(value: Any, template: Mapping[str, Any]) -> Any:
    """Resolves Fn::Join, Ref and Fn::GetAtt far enough to read ASL definitions."""
    resources = template.get("Resources", {})
    if isinstance(value, list):
        return [resolve(item, template) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part, template)) for part in parts)
    if "Ref" in value:
        name = value["Ref"]
        if name in _PSEUDO:
            return _PSEUDO[name]
        properties = resources.get(name, {}).get("Properties", {})
        return properties.get("TableName") or properties.get("Name") or name
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if resources.get(logical_id, {}).get("Type") == "AWS::Lambda::Function":
            return lambda_arn(logical_id)
        return f"{logical_id}.{attribute}"
    return {key: resolve(item, template) for key, item in value.items()}


def _references(value: Any) -> set[str]:
    """Every logical id a value refers to with Ref or Fn::GetAtt."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= _references(item)
    return found


def workflow_definitions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """State machine name -> its ASL (Lambda ARNs as ``lambda_arn(logical id)``)."""
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id, resource in _resources(template, "AWS::StepFunctions::StateMachine").items():
        properties = resource["Properties"]
        if "Definition" in properties:
            definition = resolve(properties["Definition"], template)
        else:
            text = resolve(properties["DefinitionString"], template)
            for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
                text = text.replace("${" + key + "}", str(resolve(value, template)))
            definition = json.loads(text)
        definitions[properties.get("StateMachineName", logical_id)] = definition
    return definitions


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    handler: str
    memory_mb: int
    architecture: str


@dataclass(frozen=True)
class State:
    """One state on a workflow's success path."""

    name: str
    kind: str  # "lambda", "dynamodb", "task" (another service, not priced) or "flow"
    function: str | None = None  # the Lambda function's logical id
    action: str | None = None  # e.g. "dynamodb:getItem"
    units: RequestUnits = RequestUnits()

    @property
    def history_events(self) -> int:
        # A Task logs Entered, Scheduled, Started, Succeeded, Exited; other states Entered, Exited.
        return 5 if self.kind != "flow" else 2


@dataclass(frozen=True)
class Workflow:
    logical_id: str
    name: str
    states: tuple[State, ...]

    @property
    def history_events(self) -> int:
        return 2 + sum(state.history_events for state in self.states)  # + Started, Succeeded


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    integration: str  # "workflow", "dynamodb", "lambda" or "other"
    target: str  # workflow logical id, DynamoDB action, function logical id
    authorizer_function: str | None = None
    units: RequestUnits = RequestUnits()


def _success_path(definition: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The states an execution passes through when every Task succeeds (Catch paths left out)."""
    states = definition["States"]
    path: list[tuple[str, dict[str, Any]]] = []
    name: str | None = definition["StartAt"]
    while name is not None:
        if any(seen == name for seen, _ in path):
            raise ValueError(f"state {name} loops; the cost model follows acyclic workflows only")
        state = states[name]
        kind = state["Type"]
        if kind == "Map":
            raise ValueError(f"state {name}: Map states are not modelled (unknown iteration count)")
        path.append((name, state))
        if kind == "Parallel":  # every branch runs: all of their states count
            for branch in state["Branches"]:
                path.extend(_success_path(branch))
        if kind in ("Succeed", "Fail") or state.get("End"):
            break
        if kind == "Choice":
            name = state.get("Default") or state["Choices"][0]["Next"]
        else:
            name = state["Next"]
    return path


def _gsi_keys(template: Mapping[str, Any]) -> list[set[str]]:
    keys: list[set[str]] = []
    for resource in _resources(template, "AWS::DynamoDB::Table").values():
        for index in resource["Properties"].get("GlobalSecondaryIndexes", []):
            keys.append({k["AttributeName"] for k in index["KeySchema"]})
    return keys


def dynamodb_units(
    action: str, parameters: Mapping[str, Any], gsi_keys: list[set[str]]
) -> RequestUnits:
    """Request units of one DynamoDB call made by an integration (items within 1 KB / 4 KB)."""
    name = action.lower()
    consistent = bool(parameters.get("ConsistentRead"))
    if name in ("getitem", "query", "scan"):
        return RequestUnits(read=1.0 if consistent else 0.5)
    if name == "putitem":
        attributes = {key.removesuffix(".$") for key in parameters.get("Item", {})}
        return RequestUnits(write=1.0 + sum(1 for keys in gsi_keys if keys <= attributes))
    if name in ("updateitem", "deleteitem"):
        # The item may carry index keys: count every index (an upper bound).
        return RequestUnits(write=1.0 + len(gsi_keys))
    raise ValueError(f"DynamoDB action {action} is not modelled")


def _task_state(
    name: str,
    state: Mapping[str, Any],
    functions_by_arn: Mapping[str, str],
    gsi_keys: list[set[str]],
) -> State:
    resource = str(state.get("Resource", ""))
    parameters = state.get("Parameters") or {}
    if resource in functions_by_arn:
        return State(name, "lambda", function=functions_by_arn[resource])
    if resource.endswith(":states:::lambda:invoke"):
        target = str(parameters.get("FunctionName", ""))
        function = functions_by_arn.get(target) or next(
            (fid for arn, fid in functions_by_arn.items() if target.endswith(fid)), None
        )
        return State(name, "lambda" if function else "task", function=function)
    service = resource.split(":::", 1)[-1].removeprefix("aws-sdk:")
    if service.startswith("dynamodb:"):
        action = service.split(":", 1)[1].split(".", 1)[0]
        return State(
            name,
            "dynamodb",
            action=f"dynamodb:{action}",
            units=dynamodb_units(action, parameters, gsi_keys),
        )
    return State(name, "task", action=service)


def _path_of(resource_id: Any, template: Mapping[str, Any]) -> str:
    resources = template["Resources"]
    parts: list[str] = []
    while isinstance(resource_id, dict) and "Ref" in resource_id:
        resource = resources.get(resource_id["Ref"], {})
        if resource.get("Type") != "AWS::ApiGateway::Resource":
            break
        parts.append(resource["Properties"]["PathPart"])
        resource_id = resource["Properties"]["ParentId"]
    return "/" + "/".join(reversed(parts))


@dataclass
class StackModel:
    """What the cost model needs from a synthesized template."""

    functions: dict[str, Function]
    workflows: dict[str, Workflow]
    routes: list[Route]
    secrets: int
    stage_rate_limit: float | None = None
    stage_burst_limit: float | None = None
    authorizer_cache_ttl_seconds: int | None = None
    notes: list[str] = field(default_factory=list)

    def route(self, method: str, path: str) -> Route:
        for route in self.routes:
            if route.method == method and route.path == path:
                return route
        raise KeyError(f"the template has no route {method} {path}")

    def function_by_handler(self, handler: str) -> Function | None:
        return next((f for f in self.functions.values() if f.handler == handler), None)

    @classmethod
    def from_template(cls, template: Mapping[str, Any]) -> StackModel:
        functions = {}
        for logical_id, resource in _resources(template, "AWS::Lambda::Function").items():
            properties = resource["Properties"]
            functions[logical_id] = Function(
                logical_id=logical_id,
                name=str(properties.get("FunctionName") or logical_id),
                handler=str(properties.get("Handler", "")),
                memory_mb=int(properties.get("MemorySize", 128)),
                architecture=(properties.get("Architectures") or ["x86_64"])[0],
            )
        functions_by_arn = {lambda_arn(fid): fid for fid in functions}
        gsi_keys = _gsi_keys(template)
        definitions = workflow_definitions(template)
        workflows = {}
        notes: list[str] = []
        for logical_id, resource in _resources(
            template, "AWS::StepFunctions::StateMachine"
        ).items():
            name = resource["Properties"].get("StateMachineName", logical_id)
            states = []
            for state_name, state in _success_path(definitions[name]):
                if state["Type"] == "Task":
                    modelled = _task_state(state_name, state, functions_by_arn, gsi_keys)
                    if modelled.kind == "task":
                        notes.append(f"{name}.{state_name} ({modelled.action}) is not priced")
                    states.append(modelled)
                else:
                    states.append(State(state_name, "flow"))
            workflows[logical_id] = Workflow(logical_id, name, tuple(states))

        authorizers = _resources(template, "AWS::ApiGateway::Authorizer")
        routes = []
        for resource in _resources(template, "AWS::ApiGateway::Method").values():
            properties = resource["Properties"]
            integration = properties.get("Integration", {})
            uri = str(resolve(integration.get("Uri", ""), template))
            referenced = _references(integration)
            authorizer_function = None
            authorizer_id = (properties.get("AuthorizerId") or {}).get("Ref")
            if authorizer_id in authorizers:
                targets = _references(authorizers[authorizer_id]["Properties"]) & set(functions)
                authorizer_function = next(iter(sorted(targets)), None)
            machine = next((r for r in sorted(referenced) if r in workflows), None)
            function = next((r for r in sorted(referenced) if r in functions), None)
            units = RequestUnits()
            if machine and "states:action/StartSyncExecution" in uri:
                kind, target = "workflow", machine
            elif ":dynamodb:action/" in uri:
                action = uri.rsplit("/", 1)[-1]
                text = json.dumps(resolve(integration.get("RequestTemplates", {}), template))
                consistent = '\\"ConsistentRead\\": true' in text
                kind, target = "dynamodb", f"dynamodb:{action}"
                units = dynamodb_units(action, {"ConsistentRead": consistent}, gsi_keys)
            elif function:
                kind, target = "lambda", function
            else:
                kind, target = "other", uri
            routes.append(
                Route(
                    method=properties["HttpMethod"],
                    path=_path_of(properties.get("ResourceId"), template),
                    integration=kind,
                    target=target,
                    authorizer_function=authorizer_function,
                    units=units,
                )
            )

        used = {r.authorizer_function for r in routes} | {
            r.target for r in routes if r.integration == "lambda"
        }
        used |= {s.function for w in workflows.values() for s in w.states if s.function}
        for function in sorted(functions.values(), key=lambda f: f.handler):
            if function.logical_id not in used:
                notes.append(
                    f"{function.handler} is on no success path of an API route: not priced"
                )
        model = cls(
            functions=functions,
            workflows=workflows,
            routes=sorted(routes, key=lambda r: (r.path, r.method)),
            secrets=len(_resources(template, "AWS::SecretsManager::Secret")),
            notes=notes,
        )
        for stage in _resources(template, "AWS::ApiGateway::Stage").values():
            for setting in stage["Properties"].get("MethodSettings", []):
                if setting.get("ResourcePath") == "/*":
                    model.stage_rate_limit = setting.get("ThrottlingRateLimit")
                    model.stage_burst_limit = setting.get("ThrottlingBurstLimit")
        for authorizer in authorizers.values():
            ttl = authorizer["Properties"].get("AuthorizerResultTtlInSeconds")
            model.authorizer_cache_ttl_seconds = 300 if ttl is None else int(ttl)
        return model


# -- durations -----------------------------------------------------------------------------------


def load_durations(path: Path | None = BENCH_RESULTS) -> tuple[dict[str, StepDuration], str]:
    """Step durations: measured medians from a bench result file, else the defaults."""
    durations = dict(DEFAULT_STEP_DURATIONS)
    if path is None or not path.exists():
        return durations, "documented defaults (no bench/results/latest.json)"
    data = json.loads(path.read_text())
    measured = data.get("step_durations", {})
    for handler, figures in measured.items():
        durations[handler] = StepDuration(
            float(figures["wall_ms"]), float(figures["cpu_ms"]), float(figures["log_bytes"])
        )
    machine = data.get("machine", {})
    return durations, (
        f"measured medians for {len(measured)} handlers from {path.name} "
        f"({machine.get('date', '?')}, {machine.get('cpu_model', '?')})"
    )


# -- per-operation arithmetic --------------------------------------------------------------------


def tiered(quantity: float, tiers: Tiers) -> float:
    """The price of ``quantity`` units under tiered pricing."""
    total, remaining = 0.0, quantity
    for size, price in tiers:
        used = min(remaining, size)
        total += used * price
        remaining -= used
        if remaining <= 0:
            break
    return total


def express_billed_ms(duration_ms: float) -> int:
    step = SFN_EXPRESS_DURATION_STEP_MS
    return max(step, math.ceil(duration_ms / step) * step)


def express_gb_seconds(billed_ms: int, memory_mb: int = EXPRESS_MEMORY_MB) -> float:
    chunks = max(1, math.ceil(memory_mb / SFN_EXPRESS_MEMORY_STEP_MB))
    return billed_ms / 1000 * chunks * SFN_EXPRESS_MEMORY_STEP_MB / 1024


@dataclass
class Usage:
    """Billable quantities; per operation or per month (they add up and scale)."""

    api_requests: float = 0.0
    express_requests: float = 0.0
    express_gb_seconds: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_seconds: dict[str, float] = field(default_factory=dict)  # by architecture
    read_units: float = 0.0
    write_units: float = 0.0
    secrets_api_calls: float = 0.0
    log_bytes: float = 0.0
    #: function logical id -> (invocations, billed ms of one invocation)
    invocations: dict[str, tuple[float, int]] = field(default_factory=dict)

    def add(self, other: Usage, times: float = 1.0) -> None:
        self.api_requests += other.api_requests * times
        self.express_requests += other.express_requests * times
        self.express_gb_seconds += other.express_gb_seconds * times
        self.lambda_requests += other.lambda_requests * times
        for arch, value in other.lambda_gb_seconds.items():
            self.lambda_gb_seconds[arch] = self.lambda_gb_seconds.get(arch, 0.0) + value * times
        self.read_units += other.read_units * times
        self.write_units += other.write_units * times
        self.secrets_api_calls += other.secrets_api_calls * times
        self.log_bytes += other.log_bytes * times
        for function, (count, billed) in other.invocations.items():
            before = self.invocations.get(function, (0.0, billed))[0]
            self.invocations[function] = (before + count * times, billed)

    def invoke(
        self, function: Function, duration: StepDuration, units: RequestUnits, times: float = 1.0
    ) -> int:
        billed = duration.billed_ms(function.memory_mb)
        self.lambda_requests += times
        gb_seconds = billed / 1000 * function.memory_mb / 1024 * times
        arch = function.architecture
        self.lambda_gb_seconds[arch] = self.lambda_gb_seconds.get(arch, 0.0) + gb_seconds
        self.read_units += units.read * times
        self.write_units += units.write * times
        self.log_bytes += (LAMBDA_PLATFORM_LOG_BYTES + duration.log_bytes) * times
        before = self.invocations.get(function.logical_id, (0.0, billed))[0]
        self.invocations[function.logical_id] = (before + times, billed)
        return billed


def step_units(workflow_name: str, handler: str) -> RequestUnits:
    for (scope, declared_handler), units in STEP_TABLE_OPERATIONS.items():
        if declared_handler == handler and scope != "*" and workflow_name.endswith(f"-{scope}"):
            return units
    return STEP_TABLE_OPERATIONS.get(("*", handler), RequestUnits())


@dataclass
class Operation:
    """One API operation: what a single successful call uses."""

    name: str
    route: Route
    usage: Usage
    workflow: str | None = None
    express_duration_ms: float = 0.0
    express_billed_ms: int = 0


def _duration(durations: Mapping[str, StepDuration], handler: str) -> StepDuration:
    return durations.get(handler, UNKNOWN_STEP_DURATION)


def operation_usage(
    model: StackModel, name: str, route: Route, durations: Mapping[str, StepDuration]
) -> Operation:
    usage = Usage(api_requests=1.0)
    operation = Operation(name, route, usage)
    if route.authorizer_function:
        # Upper bound: every call misses the authorizer cache (it caches per token for the TTL).
        function = model.functions[route.authorizer_function]
        usage.invoke(
            function,
            _duration(durations, function.handler),
            step_units("*", function.handler),
        )
    if route.integration == "workflow":
        workflow = model.workflows[route.target]
        operation.workflow = workflow.name
        elapsed = 0.0
        for state in workflow.states:
            if state.kind == "lambda" and state.function:
                function = model.functions[state.function]
                billed = usage.invoke(
                    function,
                    _duration(durations, function.handler),
                    step_units(workflow.name, function.handler),
                )
                elapsed += billed + LAMBDA_TASK_OVERHEAD_MS
            elif state.kind == "dynamodb":
                usage.read_units += state.units.read
                usage.write_units += state.units.write
                elapsed += DYNAMODB_TASK_MS
            else:
                elapsed += OTHER_STATE_MS
        operation.express_duration_ms = elapsed
        operation.express_billed_ms = express_billed_ms(elapsed)
        usage.express_requests = 1.0
        usage.express_gb_seconds = express_gb_seconds(operation.express_billed_ms)
        usage.log_bytes += workflow.history_events * HISTORY_EVENT_LOG_BYTES
    elif route.integration == "dynamodb":
        usage.read_units += route.units.read
        usage.write_units += route.units.write
    elif route.integration == "lambda":
        function = model.functions[route.target]
        usage.invoke(
            function, _duration(durations, function.handler), step_units("*", function.handler)
        )
    return operation


# -- the monthly estimate ------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


def cost_lines(usage: Usage, secrets: int) -> list[CostLine]:
    lines = [
        CostLine(
            "API Gateway (REST)",
            "requests",
            usage.api_requests,
            "requests",
            tiered(usage.api_requests, API_GATEWAY_REST_TIERS),
        ),
        CostLine(
            "Step Functions Express",
            "requests",
            usage.express_requests,
            "executions",
            usage.express_requests * SFN_EXPRESS_REQUEST_USD,
        ),
        CostLine(
            "Step Functions Express",
            "duration",
            usage.express_gb_seconds,
            "GB-s",
            tiered(usage.express_gb_seconds, SFN_EXPRESS_GB_SECOND_TIERS),
        ),
        CostLine(
            "Lambda",
            "requests",
            usage.lambda_requests,
            "invocations",
            usage.lambda_requests * LAMBDA_REQUEST_USD,
        ),
    ]
    for arch, gb_seconds in sorted(usage.lambda_gb_seconds.items()):
        lines.append(
            CostLine(
                "Lambda",
                f"duration ({arch})",
                gb_seconds,
                "GB-s",
                tiered(gb_seconds, LAMBDA_GB_SECOND_TIERS[arch]),
            )
        )
    lines += [
        CostLine(
            "DynamoDB on-demand",
            "reads",
            usage.read_units,
            "RRU",
            usage.read_units * DYNAMODB_READ_UNIT_USD,
        ),
        CostLine(
            "DynamoDB on-demand",
            "writes",
            usage.write_units,
            "WRU",
            usage.write_units * DYNAMODB_WRITE_UNIT_USD,
        ),
        CostLine("Secrets Manager", "secrets", secrets, "secrets", secrets * SECRET_MONTH_USD),
        CostLine(
            "Secrets Manager",
            "API calls",
            usage.secrets_api_calls,
            "calls",
            usage.secrets_api_calls * SECRETS_API_CALL_USD,
        ),
        CostLine(
            "CloudWatch Logs",
            "ingestion",
            usage.log_bytes / 1e9,
            "GB",
            usage.log_bytes / 1e9 * LOGS_INGESTION_GB_USD,
        ),
    ]
    return lines


def _environments(invocations: float, billed_ms: int) -> float:
    """Warm environments a function keeps on average over a month (at least one if used)."""
    if invocations <= 0:
        return 0.0
    return float(max(1, math.ceil(invocations / SECONDS_PER_MONTH * billed_ms / 1000)))


def periodic_usage(model: StackModel, usage: Usage) -> Usage:
    """Cache refreshes of the warm environments (key sets re-read every few minutes)."""
    extra = Usage()
    for function_id, (invocations, billed_ms) in usage.invocations.items():
        function = model.functions[function_id]
        periodic = PERIODIC_READS.get(function.handler)
        if periodic is None:
            continue
        reads = (
            _environments(invocations, billed_ms)
            * SECONDS_PER_MONTH
            / periodic.every_seconds
            * periodic.units
        )
        if periodic.service == "secretsmanager":
            extra.secrets_api_calls += reads
        else:
            extra.read_units += reads
    return extra


@dataclass
class Estimate:
    mau: int
    per_mau: dict[str, float]
    counts: dict[str, float]
    operations: dict[str, Operation]
    usage: Usage
    lines: list[CostLine]
    cognito: dict[str, float]
    durations_source: str
    model: StackModel

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)


def estimate(
    model: StackModel,
    mau: int,
    per_mau: Mapping[str, float],
    durations: Mapping[str, StepDuration],
    durations_source: str = "",
) -> Estimate:
    counts = {name: mau * rate for name, rate in per_mau.items() if rate > 0}
    operations = {
        name: operation_usage(model, name, model.route(*OPERATION_ROUTES[name]), durations)
        for name in counts
    }
    usage = Usage()
    for name, count in counts.items():
        usage.add(operations[name].usage, count)
    usage.add(periodic_usage(model, usage))
    return Estimate(
        mau=mau,
        per_mau=dict(per_mau),
        counts=counts,
        operations=operations,
        usage=usage,
        lines=cost_lines(usage, model.secrets),
        cognito={
            "lite": tiered(mau, COGNITO_LITE_TIERS),
            "essentials": tiered(mau, COGNITO_ESSENTIALS_TIERS),
        },
        durations_source=durations_source,
        model=model,
    )


def capacity(result: Estimate, peak_rps: float) -> dict[str, Any]:
    """Concurrency and request rates when the operation mix arrives at ``peak_rps``."""
    total = sum(result.counts.values())
    rates = {name: peak_rps * count / total for name, count in result.counts.items()}
    concurrency: dict[str, float] = {}
    per_second = Usage()
    for name, rps in rates.items():
        operation = result.operations[name]
        per_second.add(operation.usage, rps)
        for function_id, (invocations, billed_ms) in operation.usage.invocations.items():
            function = result.model.functions[function_id]
            concurrency[function.name] = (
                concurrency.get(function.name, 0.0) + rps * invocations * billed_ms / 1000
            )
    lambda_total = sum(concurrency.values())
    model = result.model
    return {
        "peak_rps": peak_rps,
        "operation_rps": rates,
        "lambda_concurrency": concurrency,
        "lambda_concurrency_total": lambda_total,
        "lambda_regional_quota": LAMBDA_REGIONAL_CONCURRENCY,
        "express_executions_per_second": per_second.express_requests,
        "lambda_invocations_per_second": per_second.lambda_requests,
        "dynamodb_rru_per_second": per_second.read_units,
        "dynamodb_wru_per_second": per_second.write_units,
        "dynamodb_table_quota_per_second": DYNAMODB_TABLE_UNITS_PER_SECOND,
        "api_stage_rate_limit": model.stage_rate_limit,
        "api_stage_burst_limit": model.stage_burst_limit,
        "api_account_quota_rps": API_GATEWAY_ACCOUNT_RPS,
        "warnings": _capacity_warnings(peak_rps, lambda_total, per_second, model),
    }


def _capacity_warnings(
    peak_rps: float, lambda_total: float, per_second: Usage, model: StackModel
) -> list[str]:
    warnings = []
    if model.stage_rate_limit is not None and peak_rps > model.stage_rate_limit:
        warnings.append(
            f"peak {peak_rps:g} rps exceeds the stage throttle of {model.stage_rate_limit:g} rps "
            "(context throttle_rate_limit): callers get 429"
        )
    if peak_rps > API_GATEWAY_ACCOUNT_RPS:
        warnings.append(f"peak exceeds API Gateway's default {API_GATEWAY_ACCOUNT_RPS} rps quota")
    if lambda_total > LAMBDA_REGIONAL_CONCURRENCY:
        warnings.append(
            f"Lambda concurrency {lambda_total:.0f} exceeds the default regional quota of "
            f"{LAMBDA_REGIONAL_CONCURRENCY}"
        )
    if max(per_second.read_units, per_second.write_units) > DYNAMODB_TABLE_UNITS_PER_SECOND:
        warnings.append("DynamoDB request units exceed the default on-demand table maximum")
    return warnings


# -- output ----------------------------------------------------------------------------------------


def to_json(result: Estimate, plan: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "mau": result.mau,
        "per_mau": result.per_mau,
        "operations_per_month": result.counts,
        "prices": {
            "as_of": PRICES_AS_OF,
            "region": REGION,
            "source": "public list prices as known on that date; not fetched (no network)",
        },
        "lines": [line.__dict__ for line in result.lines],
        "total_usd": result.total_usd,
        "per_mau_usd": result.total_usd / result.mau if result.mau else 0.0,
        "cognito_usd": result.cognito,
        "per_operation": {
            name: {
                "route": f"{op.route.method} {op.route.path}",
                "workflow": op.workflow,
                "express_duration_ms": op.express_duration_ms,
                "express_billed_ms": op.express_billed_ms,
                "lambda": {
                    result.model.functions[fid].name: {
                        "invocations": count,
                        "billed_ms": billed,
                        "memory_mb": result.model.functions[fid].memory_mb,
                    }
                    for fid, (count, billed) in op.usage.invocations.items()
                },
                "read_units": op.usage.read_units,
                "write_units": op.usage.write_units,
                "log_bytes": op.usage.log_bytes,
                "usd_per_million": sum(line.usd for line in cost_lines(op.usage, 0)) * 1e6,
            }
            for name, op in result.operations.items()
        },
        "durations_source": result.durations_source,
        "capacity": plan,
        "notes": result.model.notes,
    }


def _money(value: float) -> str:
    return f"${value:,.2f}"


def render(result: Estimate, plan: dict[str, Any] | None) -> str:
    counts = ", ".join(f"{name} {count:,.0f}" for name, count in result.counts.items())
    out = [
        f"stepauth on AWS: {result.mau:,} monthly active users; operations/month: {counts}",
        f"prices: {REGION} list prices as of {PRICES_AS_OF}, from memory, NOT fetched (no "
        "network here); stepauth's own free tiers ignored",
        "",
        f"{'service':<24} {'item':<18} {'quantity':>18}  {'USD/month':>12}",
    ]
    for line in result.lines:
        out.append(
            f"{line.service:<24} {line.item:<18} {line.quantity:>14,.1f} {line.unit:<5}"
            f"{_money(line.usd):>12}"
        )
    total = result.total_usd
    out += [
        f"{'total':<24} {'':<18} {'':>18}  {_money(total):>12}",
        f"per MAU: ${total / result.mau:.5f}" if result.mau else "",
        "",
        f"Cognito user pools for {result.mau:,} MAU (10,000 MAU free tier applied): "
        f"Lite {_money(result.cognito['lite'])}, Essentials {_money(result.cognito['essentials'])}",
        "",
        "per operation (one successful call):",
    ]
    for name, op in result.operations.items():
        lambdas = ", ".join(
            f"{result.model.functions[fid].name.removeprefix('stepauth-')} "
            f"{result.model.functions[fid].memory_mb} MB {billed} ms"
            for fid, (_, billed) in op.usage.invocations.items()
        )
        per_million = sum(line.usd for line in cost_lines(op.usage, 0)) * 1e6
        express = (
            f"express {op.express_billed_ms} ms billed (est. {op.express_duration_ms:.0f} ms), "
            if op.workflow
            else ""
        )
        out.append(
            f"  {name:<9} {op.route.method} {op.route.path}: {express}lambda [{lambdas}], "
            f"{op.usage.read_units:g} RRU, {op.usage.write_units:g} WRU, "
            f"{op.usage.log_bytes / 1000:.1f} KB logs -> {_money(per_million)} per million"
        )
    out.append(f"durations: {result.durations_source}")
    if plan is not None:
        out += ["", f"capacity at {plan['peak_rps']:g} requests/s (the same operation mix):"]
        for name, concurrency in sorted(plan["lambda_concurrency"].items()):
            out.append(f"  Lambda {name:<32} concurrency {concurrency:8.2f}")
        out += [
            f"  Lambda total concurrency {plan['lambda_concurrency_total']:.1f} "
            f"(default regional quota {plan['lambda_regional_quota']})",
            f"  Step Functions Express executions/s {plan['express_executions_per_second']:.1f}",
            f"  DynamoDB {plan['dynamodb_rru_per_second']:.1f} RRU/s, "
            f"{plan['dynamodb_wru_per_second']:.1f} WRU/s (on-demand table default max "
            f"{plan['dynamodb_table_quota_per_second']:,}/s each)",
            f"  API stage throttle {plan['api_stage_rate_limit']} rps, burst "
            f"{plan['api_stage_burst_limit']}",
        ]
        out += [f"  WARNING: {warning}" for warning in plan["warnings"]]
    out += [f"note: {note}" for note in result.model.notes]
    return "\n".join(out)


# -- command line ----------------------------------------------------------------------------------


def load_template(path: Path | None) -> dict[str, Any]:
    """A template file, a cloud assembly folder, or (none given) a fresh synthesis (~8 s)."""
    if path is not None:
        if path.is_dir():
            candidates = sorted(path.glob("*.template.json"))
            if not candidates:
                raise FileNotFoundError(f"no *.template.json in {path}")
            path = candidates[0]
        return json.loads(path.read_text())
    import tempfile

    from localcloud.deploy import synthesize

    with tempfile.TemporaryDirectory(prefix="stepauth-cost-") as outdir:
        return synthesize(Path(outdir)).template()


def run(args: argparse.Namespace) -> int:
    per_mau = {
        "register": args.registrations_per_mau,
        "login": args.logins_per_mau,
        "refresh": args.refreshes_per_mau,
        "logout": args.logouts_per_mau,
    }
    try:
        model = StackModel.from_template(load_template(args.template))
        durations, source = load_durations(args.bench_results)
        result = estimate(model, args.mau, per_mau, durations, source)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        print(f"stepauth cost: {error}", file=sys.stderr)
        return 1
    average_rps = sum(result.counts.values()) / SECONDS_PER_MONTH
    plan = (
        capacity(result, args.peak_rps if args.peak_rps else average_rps) if result.counts else None
    )
    if args.json:
        print(json.dumps(to_json(result, plan), indent=2))
    else:
        print(render(result, plan))
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a non-negative number")
    return value


def add_cost_command(commands: Any) -> None:
    """Adds ``stepauth cost`` to the command line's subcommands."""
    parser = commands.add_parser(
        "cost",
        help="estimate the monthly AWS bill and the capacity needed, from the template",
        description="Monthly AWS cost by service for a number of monthly active users, next to "
        "Cognito, and the capacity needed at a peak request rate. Reads the synthesized "
        "template (synthesizes the app when --template is not given); step durations come from "
        "bench/results/latest.json when it exists.",
    )
    parser.add_argument("--mau", type=_positive_int, required=True, help="monthly active users")
    parser.add_argument(
        "--logins-per-mau", type=_non_negative, required=True, help="password logins per user"
    )
    parser.add_argument(
        "--refreshes-per-mau", type=_non_negative, required=True, help="token refreshes per user"
    )
    parser.add_argument(
        "--registrations-per-mau",
        type=_non_negative,
        default=0.0,
        help="new registrations per active user (default 0)",
    )
    parser.add_argument(
        "--logouts-per-mau", type=_non_negative, default=0.0, help="logouts per user (default 0)"
    )
    parser.add_argument(
        "--peak-rps",
        type=_non_negative,
        help="plan capacity for this many requests/s (default: the monthly average)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--template", type=Path, help="a synthesized template (file or cdk.out folder)"
    )
    parser.add_argument(
        "--bench-results",
        type=Path,
        default=BENCH_RESULTS,
        help="bench results with measured step durations (default bench/results/latest.json)",
    )
    parser.set_defaults(run=run)
