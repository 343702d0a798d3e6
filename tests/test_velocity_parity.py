"""Velocity parity: every mapping template of the synthesized stack, rendered by Apache Velocity
1.7 (the engine API Gateway runs, through tests/velocity/VtlHarness.java) and by the local
renderer over the same scenarios, must give identical output.

The templates are read from the synthesized template (methods' request and integration-response
templates, gateway responses), so a change to any VTL is covered without touching this file.
All scenarios go to one JVM launch. Java and Debian's ``velocity`` package are required: the test
is skipped with its reason when they are missing on a developer machine, and fails in CI
(``CI`` set, as ``.ci/run`` does).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from localcloud.mapping_templates import (
    MappingTemplateError,
    RequestData,
    render_request_template,
    render_response_template,
)

HARNESS = Path(__file__).parent / "velocity" / "VtlHarness.java"
JAVA_LIBRARIES = Path(os.environ.get("STEPAUTH_JAVA_LIBRARIES", "/usr/share/java"))
# Velocity 1.7 and its dependencies, Commons Lang 2 (escapeJavaScript), Jayway JsonPath and
# json-smart ($input.path): Debian packages velocity, libjsonpath-java, libjson-smart-java.
JARS = (
    "velocity.jar",
    "commons-collections3.jar",
    "commons-lang.jar",
    "json-path.jar",
    "json-smart.jar",
    "accessors-smart.jar",
    "asm.jar",
    "slf4j-api.jar",
    "slf4j-nop.jar",
)


def _missing_java() -> str | None:
    if shutil.which("java") is None:
        return "no java on PATH (apt-get install default-jdk-headless)"
    missing = [jar for jar in JARS if not (JAVA_LIBRARIES / jar).exists()]
    if missing:
        return f"missing in {JAVA_LIBRARIES}: {', '.join(missing)} (see .ci/run)"
    return None


def _require_java() -> None:
    reason = _missing_java()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"Velocity parity must run in CI: {reason}")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# Templates, straight from the synthesized stack


def _flatten(value: Any) -> str:
    """A template as deployed: Fn::Join parts joined, references replaced by fixed stand-ins."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_flatten(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}.get(
            value["Ref"], f"ref-{value['Ref']}"
        )
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "getatt-" + "-".join(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::If" in value:  # a parameter given: its first branch
        _condition, when_true, _when_false = value["Fn::If"]
        return _flatten(when_true)
    raise AssertionError(f"unexpected intrinsic in a mapping template: {value}")


def stack_templates(template: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name -> (kind, VTL) for every mapping template of the stack, deduplicated by text."""
    found: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, str]] = set()

    def add(name: str, kind: str, vtl: Any) -> None:
        text = _flatten(vtl)
        if (kind, text) not in seen:
            seen.add((kind, text))
            found[name] = (kind, text)

    for logical_id, resource in sorted(template["Resources"].items()):
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGateway::Method":
            integration = properties.get("Integration", {})
            for content_type, vtl in (integration.get("RequestTemplates") or {}).items():
                add(f"{logical_id}:request:{content_type}", "request", vtl)
            for response in integration.get("IntegrationResponses") or []:
                for content_type, vtl in (response.get("ResponseTemplates") or {}).items():
                    status = response.get("StatusCode")
                    add(f"{logical_id}:response:{status}:{content_type}", "response", vtl)
        elif resource["Type"] == "AWS::ApiGateway::GatewayResponse":
            for content_type, vtl in (properties.get("ResponseTemplates") or {}).items():
                add(f"{logical_id}:{content_type}", "response", vtl)
    return found


# Beside the stack's templates: every $input and $util entry point the reference documents, so
# the local renderer stays faithful for templates still to come.
PROBE_TEMPLATES = {
    "probe:input": (
        "$input.json('$.email')|$input.path('$.nested.a[1]')|$input.path('$.nested.a').size()"
        "|$input.params('id')|$input.params().path.id|$input.params().querystring.id"
        "|$input.params('Content-Type')|$input.body.length()|$input.path('$').length()\n"
    ),
    "probe:util": (
        "$util.urlEncode($input.body)|$util.urlDecode($util.urlEncode($input.body))"
        "|$util.base64Decode($util.base64Encode($input.body))|$util.escapeJavaScript($input.body)"
        "|$util.escapeJavaScript($context.requestId)|$util.urlEncode($context.requestId)\n"
    ),
    "probe:null": (
        "#set($x = $input.path('$.missing'))$x|$!x|#if($x)yes#{else}no#end|#if(!$x)none#end"
        "|$context.authorizer.principalId|#if($context.authorizer.principalId == '')empty#end"
        "|$context.identity.userAgent.length()|#set($n = $context.requestTimeEpoch / 1000)$n\n"
    ),
}


# ---------------------------------------------------------------------------------------------
# Scenarios

HOSTILE_STRINGS = [
    "curl/8.5.0",
    "",
    " ",
    'Mozilla/5.0 "quoted" \\" \\\\',
    "it's it\\'s \\'",
    "trailing backslash \\",
    "</script><script>alert(1)</script>",
    "line1\nline2\r\nline3\ttab\bbell\fform",
    "nul \x00 \x01 \x1f DEL \x7f \x80",
    "caf\u00e9 \u20ac \u4e2d\u6587 \U0001f600 \u2028\u2029 \ufeff",
    "vtl $util.escapeJavaScript($x) #set($a = 1) ${x} $!y #if(true) #end ## comment",
    '{"json": [1, 2]} ","name":"x',
    "lone surrogate \ud800 end",
]

HOSTILE_REQUEST_IDS = [
    "c0ffee00-1111-2222-3333-444455556666",
    "",
    'id", "stateMachineArn": "arn:evil',
    'id\\" injected \\ back',
    "$context.identity.sourceIp #set($x=1)",
    "line\nbreak\r\x00",
    "caf\u00e9 \U0001f600",
]

BODIES = [
    "",
    '{"email": "a@example.com", "password": "pw"}',
    "not json at all",
    "email=a%40example.com&password=x",
    '{"nested": {"a": [1, 2, {"b": null}]}, "unicode": "\u00e9\U0001f600"}',
    "[1, 2, 3]",
    "caf\u00e9 \u0000 \\",
]


def base_context(
    *, request_id: str, user_agent: str | None, principal: dict[str, Any] | None
) -> dict[str, Any]:
    identity: dict[str, Any] = {"sourceIp": "203.0.113.9"}
    if user_agent is not None:
        identity["userAgent"] = user_agent
    context: dict[str, Any] = {
        "requestId": request_id,
        "extendedRequestId": "Ab1CdEFGhIJKlmN=",
        "httpMethod": "POST",
        "resourcePath": "/v1/login",
        "path": "/live/v1/login",
        "stage": "live",
        "apiId": "a1b2c3d4e5",
        "accountId": "123456789012",
        "requestTime": "09/Apr/2015:12:34:56 +0000",
        "requestTimeEpoch": 1428582896789,
        "protocol": "HTTP/1.1",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "identity": identity,
    }
    if principal is not None:
        context["authorizer"] = principal
    return context


PRINCIPALS: list[dict[str, Any] | None] = [
    None,
    {"principalId": "user-42", "jti": "j-1", "exp": "1700000000", "roles": "admin"},
    {"principalId": 'u"\\x#$y', "jti": "", "exp": "\u00e9"},
    {"principalId": ""},
]


def request_scenarios() -> list[dict[str, Any]]:
    scenarios = []
    for index, user_agent in enumerate([*HOSTILE_STRINGS, None]):
        scenarios.append(
            {
                "body": BODIES[index % len(BODIES)],
                "headers": {"Content-Type": "application/json", "User-Agent": user_agent or ""},
                "query": {},
                "path": {"id": HOSTILE_STRINGS[-index % len(HOSTILE_STRINGS)]},
                "context": base_context(
                    request_id=HOSTILE_REQUEST_IDS[index % len(HOSTILE_REQUEST_IDS)],
                    user_agent=user_agent,
                    principal=PRINCIPALS[index % len(PRINCIPALS)],
                ),
            }
        )
    for body, request_id, principal in itertools.product(BODIES, HOSTILE_REQUEST_IDS, PRINCIPALS):
        scenarios.append(
            {
                "body": body,
                "headers": {},
                "query": {"id": "from-query"},
                "path": {},  # a missing path parameter
                "context": base_context(
                    request_id=request_id, user_agent="ua", principal=principal
                ),
            }
        )
    return scenarios


def _execution(status: str, **fields: Any) -> str:
    return json.dumps({"executionArn": "arn:aws:states:x", "status": status, **fields})


def _document(status_code: Any, body: Any, headers: Any = None) -> str:
    document: dict[str, Any] = {"statusCode": status_code, "body": body}
    if headers is not None:
        document["headers"] = headers
    return json.dumps(document)


ANSWER_BODIES = [
    '{"user":{"id":"u-1"},"access_token":"t"}',
    '{"error":"invalid_request","error_description":"Field \\"email\\" is required."}',
    "",
    "caf\u00e9 \U0001f600 $util #set",
]

RESPONSE_PAYLOADS: list[str] = [
    *[_execution("SUCCEEDED", output=_document(201, body)) for body in ANSWER_BODIES],
    _execution("SUCCEEDED", output=_document(200, "{}", {"Retry-After": "30"})),
    _execution("SUCCEEDED", output=_document(204, "", {"Other": "x"})),
    _execution("SUCCEEDED", output=_document(200, "{}", {})),
    _execution("SUCCEEDED", output=_document(200, "{}", {"Retry-After": ""})),
    _execution("SUCCEEDED", output=_document(200, "{}", {"Retry-After": 7})),
    _execution("SUCCEEDED", output=_document(429, ANSWER_BODIES[1], {"Retry-After": "900"})),
    _execution("SUCCEEDED", output=json.dumps({"body": "{}"})),  # no status code
    *[
        _execution(
            "FAILED", error="stepauth.ClientError", cause=_document(code, ANSWER_BODIES[1], hdrs)
        )
        for code, hdrs in ((400, None), (401, None), (409, None), (429, {"Retry-After": "60"}))
    ],
    _execution("FAILED", error="States.TaskFailed", cause='boom "quoted" \u00e9'),
    _execution("FAILED", error="stepauth.ClientError"),  # no cause
    _execution("FAILED", error="Lambda.Unknown", cause=_document(400, "{}")),
    _execution("FAILED"),
    _execution("TIMED_OUT"),
    _execution("ABORTED"),
    _execution("RUNNING"),
    json.dumps({"status": None}),
    json.dumps({"__type": "AccessDeniedException", "message": "User: x is not authorized"}),
    json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}),
    json.dumps({"__type": "StateMachineDoesNotExist", "message": "State Machine Does Not Exist"}),
    "{}",
    "",
    "not json",
]


def _profile(**overrides: Any) -> dict[str, Any]:
    item = {
        "user_id": {"S": "u-1"},
        "email": {"S": "a@example.com"},
        "name": {"S": "Ada"},
        "status": {"S": "active"},
        "roles": {"L": [{"S": "user"}, {"S": "admin"}]},
        "created_at": {"S": "2026-01-01T00:00:00Z"},
    }
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not None}


QUERY_ANSWERS: list[str] = [
    json.dumps({"Items": [], "Count": 0}),
    json.dumps({"Items": [_profile()], "Count": 1}),
    json.dumps({"Items": [_profile(status={"S": "disabled"})], "Count": 1}),
    json.dumps({"Items": [_profile(), _profile()], "Count": 2}),
    json.dumps({"Items": [_profile(roles={"L": []})], "Count": 1}),
    json.dumps({"Items": [_profile(roles=None, name=None)], "Count": 1}),
    json.dumps({"Count": 0}),
    *[
        json.dumps(
            {"Items": [_profile(name={"S": text}, email={"S": text}, roles={"L": [{"S": text}]})]}
        )
        for text in HOSTILE_STRINGS
    ],
]


def response_scenarios() -> list[dict[str, Any]]:
    scenarios = []
    for index, payload in enumerate([*RESPONSE_PAYLOADS, *QUERY_ANSWERS]):
        context = base_context(
            request_id=HOSTILE_REQUEST_IDS[index % len(HOSTILE_REQUEST_IDS)],
            user_agent="ua",
            principal=PRINCIPALS[index % len(PRINCIPALS)],
        )
        context["error"] = {"message": "Unauthorized", "responseType": "UNAUTHORIZED"}
        scenarios.append(
            {"body": payload, "headers": {}, "query": {}, "path": {}, "context": context}
        )
    return scenarios


# ---------------------------------------------------------------------------------------------
# Rendering on both sides


def render_locally(kind: str, vtl: str, scenario: dict[str, Any]) -> dict[str, Any]:
    request = RequestData(
        body=scenario["body"] if kind == "request" else "",
        headers=scenario["headers"],
        query=scenario["query"],
        path_params=scenario["path"],
        context=scenario["context"],
    )
    try:
        if kind == "request":
            return {"body": render_request_template(vtl, request)}
        rendered = render_response_template(vtl, scenario["body"], request)
    except MappingTemplateError:
        return {"error": True}
    status = rendered.status_override
    return {
        "body": rendered.body,
        "status": None if status is None else str(status),
        "headers": rendered.header_overrides,
    }


def render_with_velocity(cases: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    cases_file = workdir / "cases.jsonl"
    cases_file.write_text("".join(json.dumps(case, ensure_ascii=True) + "\n" for case in cases))
    classpath = ":".join(str(JAVA_LIBRARIES / jar) for jar in JARS)
    result = subprocess.run(  # noqa: S603 - fixed command line
        ["java", "-cp", classpath, str(HARNESS), str(cases_file)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def _velocity_view(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    if "error" in answer:
        return {"error": True}
    if kind == "request":
        return {"body": answer["body"]}
    return {"body": answer["body"], "status": answer["status"], "headers": answer["headers"]}


def test_every_stack_template_renders_the_same_in_velocity_and_locally(
    template: dict[str, Any], tmp_path: Path
) -> None:
    _require_java()
    templates = stack_templates(template)
    templates.update({name: ("request", vtl) for name, vtl in PROBE_TEMPLATES.items()})
    kinds = {kind for kind, _ in templates.values()}
    assert kinds == {"request", "response"}, templates.keys()
    cases: list[dict[str, Any]] = []
    for name, (kind, vtl) in templates.items():
        scenarios = request_scenarios() if kind == "request" else response_scenarios()
        for number, scenario in enumerate(scenarios):
            cases.append({"id": f"{name}#{number}", "kind": kind, "template": vtl, **scenario})
    answers = render_with_velocity(cases, tmp_path)
    assert [a["id"] for a in answers] == [c["id"] for c in cases]

    differences = []
    for case, answer in zip(cases, answers, strict=True):
        expected = _velocity_view(answer, case["kind"])
        local = render_locally(case["kind"], case["template"], case)
        if local != expected:
            differences.append((case["id"], expected, local))
    assert not differences, (
        "\n\n".join(
            f"{case_id}\n  velocity: {expected!r}\n  local:    {local!r}"
            for case_id, expected, local in differences[:10]
        )
        + f"\n\n{len(differences)} of {len(cases)} scenarios differ"
    )
    # The scenarios reach every branch: some bodies answer from the workflow, some are the
    # generic error, some override the status and Retry-After.
    statuses = {a.get("status") for a in answers}
    assert {"500", "201", "429", "401"} <= statuses
    assert any(a.get("headers", {}).get("Retry-After") == "900" for a in answers)
