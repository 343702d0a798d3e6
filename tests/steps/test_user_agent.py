"""The one user-agent rule: the Python function and the API's request template agree."""

from __future__ import annotations

import json

import pytest

from cdk.api import WorkflowRoute, sync_execution_template
from localcloud.mapping_templates import RequestData, render_request_template
from steps.core.audit import audit_item
from steps.core.user_agent import REDACTED, USER_AGENT_MAX, sanitize_user_agent

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"

SAMPLES = [
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "bell\x07 escape\x1b[31m newline\n tab\t del\x7f c1\x85 rtl\u202e zw\u200b bom\ufeff end",
    "a" * 42,  # just under the random-token shape
    "a" * 43,  # a 256-bit token's shape
    f"app/1.0 token={JWT}",
    "hash " + "ab" * 32,
    "pw $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
    "ab " * 600,  # long and harmless: cut
    "x " * 255 + "x😀 tail",  # the cut falls inside a surrogate pair
    "tok " + "A" * 40 + "\x00" + "B" * 10,  # a token glued together by a dropped character
    "ünïcödé ☃ 😀 quotes\"' backslash\\ slash/",
    "",
]


def template_rule(user_agent: str) -> str:
    """The user agent the request template hands to the workflow (and its audit states)."""

    class Machine:
        state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:X"

    template = sync_execution_template(
        WorkflowRoute("login", Machine()),  # type: ignore[arg-type]
        audit_retention_days=400,
    )
    context = {
        "extendedRequestId": "Fx0mVHcBoAMFR7Q=",
        "requestTimeEpoch": 1767323045678,
        "identity": {"sourceIp": "203.0.113.7", "userAgent": user_agent or None},
    }
    rendered = json.loads(render_request_template(template, RequestData(context=context)))
    return json.loads(rendered["input"])["request"]["userAgent"]


@pytest.mark.parametrize("user_agent", SAMPLES, ids=range(len(SAMPLES)))
def test_the_template_and_the_python_writer_apply_one_rule(user_agent: str) -> None:
    expected = sanitize_user_agent(user_agent)
    assert template_rule(user_agent) == expected
    assert sanitize_user_agent(expected) == expected  # applying it twice changes nothing
    item = audit_item(action="login", outcome="success", user_id="u1", user_agent=user_agent, at=0)
    assert item.get("user_agent", {"S": ""})["S"] == expected


def test_the_rule() -> None:
    assert sanitize_user_agent("curl/8.5.0") == "curl/8.5.0"
    assert sanitize_user_agent(f"app/1.0 token={JWT}") == REDACTED
    assert sanitize_user_agent("tok " + "A" * 40 + "\x00" + "B" * 10) == REDACTED
    assert sanitize_user_agent("a\x1b[31mb\u202ec") == "a[31mbc"
    cut = sanitize_user_agent("x " * 255 + "x😀")
    assert cut == "x " * 255 + "x"  # never half a surrogate pair
    assert len(sanitize_user_agent("ab " * 600)) == USER_AGENT_MAX
    assert sanitize_user_agent(None) == sanitize_user_agent(42) == ""


def test_a_1541_character_jwt_shaped_user_agent_is_redacted_not_cut() -> None:
    user_agent = "Mozilla/5.0 token=eyJhbGciOiJFUzI1NiJ9." + "eyJzdWIi" * 180 + ".c2ln"
    user_agent += "x" * (1541 - len(user_agent))
    assert len(user_agent) == 1541
    assert template_rule(user_agent) == sanitize_user_agent(user_agent) == REDACTED
