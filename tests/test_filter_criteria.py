"""Lambda event filtering as the local cloud applies it (moto's EventBridge matcher, with Lambda's
operators checked first), and the clean-up's own filters.

The clean-up's FilterCriteria are read from the synthesized template (what would be deployed)
and run against stream records of every item the service writes, in every way it changes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.awslambda import filter_criteria_matches, pattern_matches
from steps.core.audit import audit_item
from steps.core.cleanup import receipt_item
from steps.core.lockout import lockout_key
from steps.core.table import (
    RefreshFamilyRecord,
    RefreshTokenRecord,
    UserRecord,
    denied_token_item,
    public_keys_item,
    refresh_family_item,
    refresh_token_item,
    user_item,
)
from tests.steps.stream_records import stream_record, with_values

RECORD = {
    "eventName": "MODIFY",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    "dynamodb": {
        "Keys": {"pk": {"S": "FAMILY#f-1"}},
        "NewImage": {"status": {"S": "revoked"}, "count": {"N": "3"}, "tags": ["a", "b"]},
        "SizeBytes": 120,
        "Empty": "",
        "Nothing": None,
    },
}


OPERATOR_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"eventName": ["MODIFY"]}, True),
    ({"eventName": ["INSERT", "MODIFY"]}, True),
    ({"eventName": ["REMOVE"]}, False),
    ({"eventName": ["modify"]}, False),
    ({"eventName": [{"equals-ignore-case": "modify"}]}, True),
    ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "FAMILY#"}]}}}}, True),
    ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "DENY#"}]}}}}, False),
    (
        {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": {"equals-ignore-case": "family#"}}]}}}},
        True,
    ),
    ({"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "#f-1"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["active"]}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "revoked"}]}}}}, False),
    (
        {"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "rev"}}]}}}},
        False,
    ),
    # anything-but never matches a field that is not there
    ({"dynamodb": {"NewImage": {"missing": {"S": [{"anything-but": ["x"]}]}}}}, False),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"exists": True}]}}}}, True),
    ({"dynamodb": {"NewImage": {"missing": {"S": [{"exists": True}]}}}}, False),
    ({"dynamodb": {"NewImage": {"missing": {"S": [{"exists": False}]}}}}, True),
    ({"dynamodb": {"NewImage": {"status": {"S": [{"exists": False}]}}}}, False),
    # exists looks at leaf values only, as AWS documents: an object is not a value
    ({"dynamodb": {"NewImage": {"status": [{"exists": True}]}}}, False),
    ({"dynamodb": {"OldImage": {"status": {"S": ["active"]}}}}, False),  # no OldImage
    ({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 120]}]}}, True),
    ({"dynamodb": {"SizeBytes": [{"numeric": ["<", 100]}]}}, False),
    ({"dynamodb": {"SizeBytes": [120]}}, True),
    # DynamoDB numbers are strings: numeric comparisons never match them (as on AWS)
    ({"dynamodb": {"NewImage": {"count": {"N": [{"numeric": [">", 1]}]}}}}, False),
    ({"dynamodb": {"NewImage": {"tags": ["b"]}}}, True),  # any element of an array
    ({"dynamodb": {"Empty": [""]}}, True),
    ({"dynamodb": {"Nothing": [None]}}, True),
    ({"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}}, True),
    ({"eventName": ["MODIFY"], "userIdentity": {"type": ["User"]}}, False),  # fields AND-ed
]


@pytest.mark.parametrize(("pattern", "expected"), OPERATOR_CASES)
def test_pattern_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert pattern_matches(pattern, RECORD) is expected


def test_filters_are_or_ed_and_none_lets_everything_through() -> None:
    def criteria(*patterns: dict[str, Any]) -> dict[str, Any]:
        return {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}

    assert filter_criteria_matches(None, RECORD)
    assert filter_criteria_matches({"Filters": []}, RECORD)
    assert filter_criteria_matches(
        criteria({"eventName": ["REMOVE"]}, {"eventName": ["MODIFY"]}), RECORD
    )
    assert not filter_criteria_matches(criteria({"eventName": ["REMOVE"]}), RECORD)
    assert filter_criteria_matches(criteria({"eventName": ["REMOVE"]}, {}), RECORD)  # {}: all


def test_several_filters_decide_as_moto_s_matcher_does_one_by_one() -> None:
    """The record is flattened once for all the filters; each still decides as moto's own."""
    patterns = [p for p, _ in OPERATOR_CASES]
    for first in patterns:
        for second in patterns[::5]:
            criteria = {
                "Filters": [{"Pattern": json.dumps(first)}, {"Pattern": json.dumps(second)}]
            }
            expected = pattern_matches(first, RECORD) or pattern_matches(second, RECORD)
            assert filter_criteria_matches(criteria, RECORD) is expected, (first, second)


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": [{"wildcard": "MOD*"}]},
        {"eventName": [{"numeric": [">"]}]},
        {"eventName": [{"prefix": 3}]},
        {"eventName": "MODIFY"},
        {"eventName": [{"exists": "yes"}]},
        {"eventName": [{"prefix": "M", "suffix": "Y"}]},
    ],
)
def test_unsupported_or_malformed_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        pattern_matches(pattern, RECORD)


# -- the clean-up's filters, from the template ------------------------------------------------

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def cleanup_criteria(template: dict) -> dict[str, Any]:
    (mapping,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    return mapping["FilterCriteria"]


USER = user_item(UserRecord("u-1", "a@example.com", "$argon2id$x", created_at="2025-01-01"))
FAMILY = refresh_family_item(
    RefreshFamilyRecord("f-1", "u-1", "a@example.com", NOW, NOW, NOW + 100)
)
TOKEN = refresh_token_item(RefreshTokenRecord("ab" * 32, "f-1", "u-1", NOW, NOW + 100))
DENIED = denied_token_item("jti-1", NOW + 900)
AUDIT = audit_item(action="login", outcome="success", user_id="u-1", at=NOW, retention_days=1)
RECEIPT = receipt_item("session_expired", "f-1", now=NOW)
KEYS = public_keys_item({"keys": []}, updated_at=NOW)
LOCKOUT = {
    **lockout_key("a@example.com"),
    "failures": {"N": "3"},
    "expires_at": {"N": str(NOW)},
}

LET_THROUGH = {
    "family revoked": stream_record("MODIFY", FAMILY, with_values(FAMILY, status="revoked")),
    "user disabled": stream_record("MODIFY", USER, with_values(USER, status="disabled")),
    "family removed by TTL": stream_record("REMOVE", FAMILY, None, ttl=True),
    "revoked family removed by TTL": stream_record(
        "REMOVE", with_values(FAMILY, status="revoked"), None, ttl=True
    ),
    "token removed by TTL": stream_record("REMOVE", TOKEN, None, ttl=True),
    "denylist entry removed by TTL": stream_record("REMOVE", DENIED, None, ttl=True),
}
HELD_BACK = {
    "family started": stream_record("INSERT", None, FAMILY),
    "family used (last_used_at)": stream_record(
        "MODIFY", FAMILY, with_values(FAMILY, user_agent="x")
    ),
    "revoked family touched again": stream_record(
        "MODIFY", with_values(FAMILY, status="revoked"), with_values(FAMILY, status="revoked")
    ),
    "family deleted by a caller": stream_record("REMOVE", FAMILY, None),
    "token issued": stream_record("INSERT", None, TOKEN),
    "token spent": stream_record("MODIFY", TOKEN, with_values(TOKEN, status="spent")),
    "token deleted by the clean-up": stream_record("REMOVE", TOKEN, None),
    "user registered": stream_record("INSERT", None, USER),
    "user disabled again": stream_record(
        "MODIFY", with_values(USER, status="disabled"), with_values(USER, status="disabled")
    ),
    "user re-enabled": stream_record("MODIFY", with_values(USER, status="disabled"), USER),
    "user deleted (account deletion)": stream_record("REMOVE", USER, None),
    "user removed by TTL (never happens)": stream_record("REMOVE", USER, None, ttl=True),
    "access token denied": stream_record("INSERT", None, DENIED),
    "denylist entry deleted by a caller": stream_record("REMOVE", DENIED, None),
    "audit record written": stream_record("INSERT", None, AUDIT),
    "audit record removed by TTL": stream_record("REMOVE", AUDIT, None, ttl=True),
    "receipt written": stream_record("INSERT", None, RECEIPT),
    "receipt removed by TTL": stream_record("REMOVE", RECEIPT, None, ttl=True),
    "signing keys published": stream_record("MODIFY", KEYS, KEYS),
    "lockout counter removed by TTL": stream_record("REMOVE", LOCKOUT, None, ttl=True),
}


@pytest.mark.parametrize("kind", sorted(LET_THROUGH))
def test_the_cleanup_filters_let_through_what_the_cleanup_handles(cleanup_criteria, kind) -> None:
    assert filter_criteria_matches(cleanup_criteria, LET_THROUGH[kind])


@pytest.mark.parametrize("kind", sorted(HELD_BACK))
def test_the_cleanup_filters_hold_back_everything_else(cleanup_criteria, kind) -> None:
    assert not filter_criteria_matches(cleanup_criteria, HELD_BACK[kind])


def test_the_cleanup_handler_agrees_with_its_filters() -> None:
    """classify() acts on exactly what the filters let through (it checks them again)."""
    from steps.core.cleanup import classify

    assert all(classify(record) is not None for record in LET_THROUGH.values())
    for kind, record in HELD_BACK.items():
        assert classify(record) is None, kind


def test_records_refused_early_are_refused_by_moto_s_matcher_too(cleanup_criteria) -> None:
    """The early refusal on a top-level field changes no decision: every record the service
    writes, and the operator cases' record under each event name, against the clean-up's
    filters and against each operator case, decide as moto's matcher does pattern by pattern."""
    records = [*LET_THROUGH.values(), *HELD_BACK.values()]
    records += [{**RECORD, "eventName": name} for name in ("INSERT", "MODIFY", "REMOVE", "")]
    cleanup = [json.loads(f["Pattern"]) for f in cleanup_criteria["Filters"]]
    extra = [
        {"eventName": ["MODIFY", 3]},
        {"eventName": [{"anything-but": ["INSERT"]}]},
        {"eventName": ["REMOVE"], "dynamodb": {"SizeBytes": [120]}},
        {"eventSource": ["aws:dynamodb"], "eventName": ["REMOVE", "MODIFY"]},
    ]
    for record in records:
        for patterns in [cleanup, *([p] for p, _ in OPERATOR_CASES), *([p] for p in extra)]:
            criteria = {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}
            expected = any(pattern_matches(p, record) for p in patterns)
            assert filter_criteria_matches(criteria, record) is expected, (patterns, record)
