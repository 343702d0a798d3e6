"""Every consumer of the contract (steps/core/contract) is generated from it or agrees with it.

A changed attribute name, key, status, code or error text on one side only fails here: the
synthesized workflows' DynamoDB items and rejections, the API's gateway responses and mapping
templates, openapi.yaml, README's layout table and the Python codec are all compared with the
one definition. (The stored items themselves are checked at the end of the end-to-end modules:
``test_api.py``, ``test_email_verification.py``.)
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdk.api import TEMPLATES, mapping_template, template_constants
from steps.core import errors as step_errors
from steps.core.audit import audit_item
from steps.core.cleanup import receipt_item
from steps.core.contract import entities
from steps.core.contract import errors as contract_errors
from steps.core.contract.entities import (
    ENTITIES,
    GSI1PK,
    GSI1SK,
    PK,
    SK,
    USER,
    Entity,
    KeyTemplate,
    entity_of,
    layout_markdown,
    problems,
)
from steps.core.contract.errors import (
    CLIENT_ERRORS,
    ERROR_CODES,
    FRONT_DOOR_ERRORS,
    TEMPORARILY_UNAVAILABLE,
    ErrorSpec,
)
from steps.core.table import (
    RefreshFamilyRecord,
    RefreshTokenRecord,
    UserRecord,
    denied_token_item,
    entity_item,
    public_keys_item,
    refresh_family_item,
    refresh_token_item,
    user_item,
)
from tests.test_stack import definition_of, resources, state_machines

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_FORMAT = re.compile(r"^States\.Format\('((?:[^'\\]|\\.)*)'")
_TYPES = {"S": "S", "N": "N", "BOOL": "BOOL", "L": "L", "SS": "SS"}


def _all_states(template: dict) -> dict[str, tuple[str, dict]]:
    """Every state of every workflow, by "<machine>/<state>" (Map and Parallel flattened)."""
    found: dict[str, tuple[str, dict]] = {}

    def walk(machine: str, states: dict[str, dict]) -> None:
        for name, state in states.items():
            found[f"{machine}/{name}"] = (name, state)
            for branch in state.get("Branches", []):
                walk(machine, branch["States"])
            if "ItemProcessor" in state:
                walk(machine, state["ItemProcessor"]["States"])

    for machine in state_machines(template).values():
        walk(machine["Properties"]["StateMachineName"], definition_of(machine)["States"])
    return found


def _sample(value: dict[str, Any]) -> tuple[str, str]:
    """(type, a sample text) of an ASL attribute value: a literal as it is, a States.Format
    with each ``{}`` as "x", a plain path as "x"."""
    ((field, raw),) = value.items()
    kind = field.removesuffix(".$")
    if not field.endswith(".$"):
        return kind, raw if isinstance(raw, str) else json.dumps(raw)
    pattern = _FORMAT.match(raw)
    return kind, pattern.group(1).replace("{}", "x") if pattern else "x"


def _dynamodb_tasks(template: dict) -> list[tuple[str, str, dict]]:
    tasks = []
    for where, (_, state) in _all_states(template).items():
        resource = str(state.get("Resource", ""))
        if state.get("Type") == "Task" and ":states:::dynamodb:" in resource:
            tasks.append((where, resource.rsplit(":", 1)[-1], state["Parameters"]))
    return tasks


def test_every_dynamodb_task_names_an_entity_and_writes_only_its_attributes(
    template: dict,
) -> None:
    tasks = _dynamodb_tasks(template)
    assert {action for _, action, _ in tasks} >= {"putItem", "getItem", "deleteItem"}
    for where, action, parameters in tasks:
        item = parameters.get("Item") or parameters["Key"]
        keys = {name: _sample(item[name])[1] for name in (PK, SK)}
        entity = entity_of(keys[PK], keys[SK])
        assert entity is not None, f"{where}: no entity has the key {keys}"
        if action != "putItem":
            continue
        for name, value in item.items():
            kind, text = _sample(value)
            if name in (PK, SK, GSI1PK, GSI1SK):
                template_text = entity.template(name)
                assert template_text is not None, f"{where}: {entity.name} has no {name}"
                assert template_text.parse(text) is not None, f"{where}: {name} {text!r}"
            elif name == entities.ENTITY_ATTRIBUTE:
                assert text == entity.name, where
            else:
                assert entity.attributes.get(name) == _TYPES[kind], f"{where}: {name} {kind}"
        missing = set(entity.required) - set(item)
        assert not missing, f"{where}: {entity.name} without {missing}"
        assert set(entity.templates()) <= set(item), f"{where}: a key is missing"


def test_the_register_workflow_stores_the_user_as_the_codec_does(template: dict) -> None:
    """StoreUser and table.user_item: the same attributes, with the same types."""
    (store,) = [p for w, a, p in _dynamodb_tasks(template) if w.endswith("Register/StoreUser")]
    asl = {name: _sample(value)[0] for name, value in store["Item"].items()}
    asl.pop("email_verified", None)  # only with email verification (not a codec field)
    codec = user_item(UserRecord(user_id="u", email="a@b.de", password_hash="h"))
    assert asl == {name: next(iter(value)) for name, value in codec.items()}


def _fail_causes(template: dict) -> list[tuple[str, dict]]:
    causes = []
    for where, (_, state) in _all_states(template).items():
        if state.get("Type") == "Fail" and "Cause" in state:
            causes.append((where, {"error": state["Error"], **json.loads(state["Cause"])}))
    return causes


def _spec_of(status: int | None, body: dict[str, str]) -> ErrorSpec | None:
    for spec in CLIENT_ERRORS.values():
        if spec.description is None or "{" in spec.description:
            continue
        if (spec.status, spec.code, spec.description) == (
            status,
            body["error"],
            body["error_description"],
        ):
            return spec
    return None


def test_every_rejection_of_every_workflow_is_a_contract_error(template: dict) -> None:
    causes = _fail_causes(template)
    assert len(causes) > 20
    for where, cause in causes:
        body = json.loads(cause["body"])
        if cause["error"] == "stepauth.Unavailable":
            assert body == TEMPORARILY_UNAVAILABLE.body(), where
            assert cause["statusCode"] == TEMPORARILY_UNAVAILABLE.status
            continue
        assert cause["error"] == "stepauth.ClientError", where
        assert _spec_of(cause["statusCode"], body) is not None, f"{where}: {cause}"
    # The rejections that pass a step's message on: status and code of the step's error.
    passed_on = 0
    for name, state in _all_states(template).values():
        parameters = state.get("Parameters", {})
        if state.get("Type") == "Pass" and name.startswith("Reject") and "error" in parameters:
            spec = CLIENT_ERRORS[name.removeprefix("Reject")]
            assert (parameters["statusCode"], parameters["error"]) == (spec.status, spec.code)
            passed_on += 1
    assert passed_on > 10


def test_the_gateway_responses_are_contract_errors(template: dict) -> None:
    responses = resources(template, "AWS::ApiGateway::GatewayResponse").values()
    for response in responses:
        properties = response["Properties"]
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        status = properties.get("StatusCode")
        assert _spec_of(None if status is None else int(status), body), properties


def test_the_step_errors_are_the_contract_errors() -> None:
    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    raised = subclasses(step_errors.ClientError)
    assert len(raised) >= 12
    for cls in raised:
        spec = CLIENT_ERRORS[cls.__name__]
        error = cls("the step's own words")
        assert (error.status, error.code) == (spec.status, spec.code)
        expected = spec.description if spec.fixed else "the step's own words"
        assert str(error) == expected
    with pytest.raises(TypeError, match="no spec"):
        type("NotInTheContract", (step_errors.ClientError,), {})


def test_the_raw_mapping_templates_restate_no_key_and_no_error() -> None:
    words = {text for text in template_constants().values() if len(text) > 3}
    words |= {KeyTemplate(t).prefix for e in ENTITIES for t in (e.pk, e.sk)} - {""}
    words |= {spec.description for spec in CLIENT_ERRORS.values() if spec.description}
    for path in TEMPLATES.glob("*.vtl"):
        text = path.read_text()
        lines = [
            re.sub(r"\$\{[A-Z_0-9]+\}", "", line)  # the contract's placeholders
            for line in text.splitlines()
            if not line.startswith("##")
        ]
        for word in words:
            assert all(word not in line for line in lines), f"{path.name} restates {word!r}"


def test_the_profile_template_reads_the_user_entity() -> None:
    text = mapping_template("me_result.vtl")
    read = set(re.findall(r"\$(?:user|items\[0\])\.([a-z_]+)\.([A-Z]+)", text))
    assert {name for name, _ in read} >= {"user_id", "email", "name", "roles", "created_at"}
    for name, kind in read:
        assert USER.attributes.get(name) == kind, (name, kind)
    assert TEMPORARILY_UNAVAILABLE.body_text() in text
    query = mapping_template("me.vtl")
    assert f'"S": "{USER.gsi1sk}"' in query and '"USERID#$userId"' in query


def test_openapi_lists_exactly_the_contract_error_codes() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "openapi.yaml").read_text())
    enum = document["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    assert set(enum) == ERROR_CODES


def test_the_front_door_answers_with_the_contract_errors_only() -> None:
    """localcloud/gateway.py refuses a request with one of the contract's front-door errors and
    writes no error code or description of its own."""
    tree = ast.parse((PROJECT_ROOT / "localcloud" / "gateway.py").read_text())
    refused_with = {
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "FrontDoorRefusal"
    }
    names = {name for name, value in vars(contract_errors).items() if value in FRONT_DOOR_ERRORS}
    assert refused_with == {f"errors.{name}" for name in names}
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    restated = {spec.code for spec in CLIENT_ERRORS.values()}
    restated |= {spec.description for spec in CLIENT_ERRORS.values() if spec.description}
    assert not [text for text in texts for word in restated if word in text]


def test_openapi_names_every_status_of_the_front_door() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "openapi.yaml").read_text())
    told = {int(status) for status in re.findall(r"\b(4\d\d)\b", document["info"]["description"])}
    assert {spec.status for spec in FRONT_DOOR_ERRORS} <= told


def test_readme_shows_the_contract_layout() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert layout_markdown() in readme, "paste entities.layout_markdown() into README.md"


def test_the_python_codec_writes_items_that_fit_the_contract() -> None:
    family = RefreshFamilyRecord(
        family_id="f", user_id="u", email="a@b.de", created_at=1, last_used_at=2, expires_at=3
    )
    items = [
        user_item(UserRecord(user_id="u", email="a@b.de", password_hash="h")),
        refresh_token_item(RefreshTokenRecord("ab" * 32, "f", "u", 1, 3, "spent", 2)),
        refresh_family_item(family, client_id="c", scope="read"),
        denied_token_item("j", 5),
        public_keys_item({"keys": []}, updated_at=1),
        audit_item(action="login", outcome="success", user_id="u", at=1.5, retention_days=1),
        audit_item(action="login", outcome="failure", user_id=None, at=1.5, retention_days=1),
        receipt_item("session_expired", "f", now=1),
    ]
    for item in items:
        assert problems(item) == [], item


@pytest.mark.parametrize(
    "change",
    [
        {"user_idx": {"S": "u"}},  # a renamed or new attribute
        {"created_at": {"N": "1"}},  # another type
        {"entity": {"S": "users"}},
        {"gsi1pk": {"S": "USER#u"}},
    ],
)
def test_an_item_that_drifts_from_the_contract_is_found(change: dict) -> None:
    item = user_item(UserRecord(user_id="u", email="a@b.de", password_hash="h"))
    assert problems({**item, **change})


def test_an_undeclared_attribute_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="no attribute"):
        entity_item(USER, {"user_id": "u", "nickname": "x"})
    with pytest.raises(ValueError, match="needs"):
        entity_item(USER, {"user_id": "u"})


def test_every_entity_key_is_told_apart() -> None:
    """No primary key of one entity fits another's templates."""
    for entity in ENTITIES:
        sample = {f: f"v-{f}" for f in entity.key_fields}
        key = entity.key(**sample)
        assert entity_of(key[PK], key[SK]) is entity, entity.name


def assert_items_fit_the_contract(items: list[dict[str, Any]], *, expected: set[str]) -> None:
    """For the end-to-end modules: every stored item whose key is an entity's fits it, and the
    ``expected`` entities are among them. (Items of no entity are other tests' own.)"""
    found: set[str] = set()
    wrong = {}
    for item in items:
        entity = entity_of(item.get(PK, {}).get("S", ""), item.get(SK, {}).get("S", ""))
        if isinstance(entity, Entity):
            found.add(entity.name)
            if entity.problems(item):
                wrong[json.dumps(item)[:300]] = entity.problems(item)
    assert not wrong, wrong
    assert found >= expected, expected - found


def test_a_workflow_item_off_the_contract_fails_the_synthesis() -> None:
    from cdk.items import Fixed, state_item, state_key

    account = {
        "user_id": "$.id",
        "email": "$.email",
        "name": "$.name",
        "password_hash": "$.hash",
        "roles": Fixed(["user"]),
        "status": Fixed("active"),
        "created_at": "$.at",
    }
    assert set(state_item(USER, account)) == set(user_item(UserRecord("u", "a@b.de", "h")))
    with pytest.raises(ValueError, match="no attribute"):
        state_item(USER, {**account, "nickname": "$.nick"})
    with pytest.raises(ValueError, match="needs"):
        state_item(USER, {"user_id": "$.id"})
    with pytest.raises(ValueError, match="Fixed"):
        state_item(USER, {**account, "roles": "$.roles"})
    with pytest.raises(ValueError, match="needs email"):
        state_key(USER, user_id="$.id")
