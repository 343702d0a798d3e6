"""The request template under Apache Velocity 1.7 (what API Gateway runs) and under the local
renderer: the same execution name and the same execution input for hostile values, so what the
local tests prove about escaping, the user-agent rule and the size guard holds on AWS.

Needs a JDK and Debian's velocity and commons-lang packages (DESIGN: checked here)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from cdk.api import WorkflowRoute, sync_execution_template
from localcloud.mapping_templates import RequestData, render_request_template
from steps.core.user_agent import REDACTED, sanitize_user_agent

HERE = Path(__file__).resolve().parent
CLASSPATH = [
    "/usr/share/java/velocity-1.7.jar",
    "/usr/share/java/commons-lang-2.6.jar",
    "/usr/share/java/commons-collections3.jar",
]
HOSTILE = '","stateMachineArn":"arn:aws:states:us-east-1:1:stateMachine:evil","input":"{}"\\\'"x'
EXTENDED_ID = "Fx0m/VHc+oAMFR7Q="
USER_AGENTS = [
    "curl/8.5.0",
    "Mozilla/5.0 \x1b[31mred\x7f\u202e\u200b\ufeff end",
    "app token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "pw $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
    "hash " + "ab" * 32 + " end",
    "a" * 43,
    "ab " * 600,
    "x " * 255 + "x😀 tail",
    HOSTILE,
    "ünïcödé ☃ 😀",
]
BODIES = [
    base64.b64encode(b'{"email": "a@example.com", "password": "\xff"}').decode(),
    "",
    "A" * 21_848,  # 16 KiB in base64: the largest body handed over
    "A" * 21_852,  # one base64 quantum more: too large
]


class Machine:
    state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:X"


def _properties(values: dict[str, str]) -> str:
    """A .properties file with every UTF-16 code unit escaped (no encoding questions)."""
    lines = []
    for key, value in values.items():
        units = value.encode("utf-16-le", "surrogatepass")
        codes = (int.from_bytes(units[i : i + 2], "little") for i in range(0, len(units), 2))
        lines.append(key + "=" + "".join(f"\\u{code:04x}" for code in codes))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = tmp_path_factory.mktemp("velocity")
    subprocess.run(
        ["javac", "-cp", ":".join(CLASSPATH), "-d", str(classes), "RenderRequestTemplate.java"],
        cwd=HERE / "velocity",
        check=True,
        capture_output=True,
        timeout=120,
    )
    return classes


def _cases() -> list[dict[str, str]]:
    cases = [
        {
            "body": BODIES[0],
            "userAgent": user_agent,
            "sourceIp": HOSTILE,
            "requestId": HOSTILE,
            "extendedRequestId": EXTENDED_ID,
            "contentType": "application/json; charset=latin-1",
            "pathId": HOSTILE,
        }
        for user_agent in USER_AGENTS
    ]
    cases += [{**cases[0], "body": body} for body in BODIES[1:]]
    return cases


@pytest.mark.parametrize(
    "route",
    [
        WorkflowRoute("login", Machine()),  # type: ignore[arg-type]
        WorkflowRoute(
            "admin/users/{id}/disable",
            Machine(),  # type: ignore[arg-type]
            protected=True,
            path_parameter="id",
        ),
    ],
    ids=["public", "protected-with-path-parameter"],
)
def test_velocity_and_the_local_renderer_agree(
    java_classes: Path, tmp_path: Path, route: WorkflowRoute
) -> None:
    template = sync_execution_template(route, audit_retention_days=400)
    template_file = tmp_path / "template.vtl"
    template_file.write_text(template, encoding="utf-8")
    cases = _cases()
    files = []
    for number, case in enumerate(cases):
        path = tmp_path / f"case{number}.properties"
        path.write_text(_properties(case), encoding="ascii")
        files.append(str(path))
    java = subprocess.run(
        [
            "java",
            "-cp",
            ":".join([str(java_classes), *CLASSPATH]),
            "RenderRequestTemplate",
            str(template_file),
            *files,
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    outputs = java.stdout.decode("utf-8").split("\0")[:-1]
    assert len(outputs) == len(cases)
    for case, by_velocity in zip(cases, outputs, strict=True):
        context = {
            "requestId": case["requestId"],
            "extendedRequestId": case["extendedRequestId"],
            "requestTimeEpoch": 1767323045678,
            "identity": {"sourceIp": case["sourceIp"], "userAgent": case["userAgent"]},
            "authorizer": {
                "principalId": case["requestId"],
                "jti": case["requestId"],
                "exp": "1767323945",
            },
        }
        request = RequestData(
            body=case["body"],
            headers={"Content-Type": case["contentType"]},
            path_params={"id": case["pathId"]},
            context=context,
        )
        local = json.loads(render_request_template(template, request))
        aws = json.loads(by_velocity)
        # One document with exactly these keys: nothing injected, under either renderer.
        assert set(aws) == {"stateMachineArn", "name", "input"}
        assert aws["stateMachineArn"] == Machine.state_machine_arn
        assert aws["name"] == local["name"] == "Fx0m_VHc-oAMFR7Q="
        execution_input = json.loads(aws["input"])
        assert execution_input == json.loads(local["input"])
        sent = execution_input["request"]
        assert sent["requestId"] == EXTENDED_ID and sent["sourceIp"] == HOSTILE
        assert sent["userAgent"] == sanitize_user_agent(case["userAgent"])
        assert sent["bodyTooLarge"] is (len(case["body"]) > 21_848)
        assert sent["body"] == ("" if sent["bodyTooLarge"] else case["body"])
        if route.protected:
            assert execution_input["caller"]["userId"] == HOSTILE
            assert execution_input["target"]["userId"] == HOSTILE
    assert REDACTED in {json.loads(json.loads(o)["input"])["request"]["userAgent"] for o in outputs}
