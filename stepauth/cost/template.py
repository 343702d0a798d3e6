"""Reads what the cost model needs off a synthesized CloudFormation template.

Routes and their integrations, each workflow's success path through its ASL, the Lambda
functions with their memory and architecture, the direct DynamoDB operations and their request
units. It resolves intrinsics on the template alone (placeholder ARNs, no account): the local
cloud's resolver (``DeployedStack.resolve`` in localcloud/deploy.py) works on a stack deployed
into moto, which the command line installed with ``pip install .`` (boto3 only) does not have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .prices import REGION


@dataclass(frozen=True)
class RequestUnits:
    """DynamoDB on-demand request units (items up to 1 KB written, 4 KB read: one unit each)."""

    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: RequestUnits) -> RequestUnits:
        return RequestUnits(self.read + other.read, self.write + other.write)


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
