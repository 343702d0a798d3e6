"""The local cloud's run-time fault control (``/_aws/faults``): what it answers to bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localcloud import faults


@pytest.fixture(autouse=True)
def no_rules() -> Iterator[None]:
    faults.clear()
    yield
    faults.clear()


def _refusal(answer: tuple[str, list[tuple[str, str]], bytes]) -> tuple[int, str]:
    status, headers, body = answer
    assert ("Content-Type", "application/json") in headers
    document = json.loads(body)
    assert document["error"] == "invalid_request"
    return int(status.split()[0]), document["error_description"]


def test_a_rule_is_added_listed_and_cleared() -> None:
    status, _, body = faults.control_response("POST", b"dynamodb:PutItem:throttle:times=2")
    assert status == "200 OK"
    assert [r["operation"] for r in json.loads(body)["rules"]] == ["PutItem"]
    assert faults.control_response("DELETE", b"")[0] == "204 No Content"
    assert json.loads(faults.control_response("GET", b"")[2]) == {"rules": []}


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"\xff\xfe", 400, "The fault rules must be UTF-8 text."),
        (b"nonsense", 400, "A fault is service:Operation:kind[:options], got 'nonsense'."),
        (b"dynamodb:PutItem:throttle:times=abc", 400, "times must be a whole number"),
        (b"dynamodb:PutItem:throttle:p=lots", 400, "p must be a number"),
        (b"dynamodb:PutItem:melt", 400, "Unknown fault kind"),
        (b"x" * (faults.MAX_CONTROL_BODY_BYTES + 1), 413, "The fault rules are too long."),
    ],
)
def test_bad_rules_get_a_clear_refusal_and_add_nothing(body: bytes, status: int, says: str) -> None:
    answered, description = _refusal(faults.control_response("POST", body))
    assert answered == status
    assert says in description
    assert "Traceback" not in description and "literal" not in description
    assert json.loads(faults.control_response("GET", b"")[2]) == {"rules": []}


def test_another_method_is_refused_in_the_same_shape() -> None:
    answer = faults.control_response("PUT", b"")
    assert _refusal(answer)[0] == 405
    assert ("Allow", "GET, POST, DELETE") in answer[1]
