"""The local gateway's API Gateway semantics that do not need a request: routes, policies, cache."""

from __future__ import annotations

from localcloud.gateway import (
    AuthorizerCache,
    _CachedPolicy,
    _path_pattern,
    policy_allows,
)

API = "arn:aws:execute-api:us-east-1:123456789012:abc123/live"


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_ALL = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/*/*"}
DENY_ADMIN = {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{API}/*/v1/admin/*"}


def test_allow_covers_every_route_of_the_stage() -> None:
    policy = _policy(ALLOW_ALL)
    assert policy_allows(policy, f"{API}/GET/v1/me")
    assert policy_allows(policy, f"{API}/POST/v1/admin/users/u1/disable")
    assert not policy_allows(
        policy, "arn:aws:execute-api:us-east-1:123456789012:other/live/GET/v1/me"
    )


def test_an_explicit_deny_wins_over_an_allow() -> None:
    policy = _policy(ALLOW_ALL, DENY_ADMIN)
    assert policy_allows(policy, f"{API}/POST/v1/logout")
    assert not policy_allows(policy, f"{API}/POST/v1/admin/users/u1/disable")


def test_no_matching_allow_is_a_deny() -> None:
    assert not policy_allows(_policy(), f"{API}/GET/v1/me")
    other_action = {**ALLOW_ALL, "Action": "execute-api:ManageConnections"}
    assert not policy_allows(_policy(other_action), f"{API}/GET/v1/me")


def test_single_statement_and_list_forms() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": {**ALLOW_ALL, "Action": ["execute-api:*"], "Resource": [f"{API}/GET/v1/me"]},
    }
    assert policy_allows(policy, f"{API}/GET/v1/me")
    assert not policy_allows(policy, f"{API}/POST/v1/me")


def test_path_parameters_match_one_segment() -> None:
    pattern = _path_pattern("/v1/admin/users/{id}/disable")
    assert pattern.fullmatch("/v1/admin/users/abc-1/disable").group("id") == "abc-1"
    assert pattern.fullmatch("/v1/admin/users/a/b/disable") is None


def test_cached_answers_expire_with_the_ttl() -> None:
    cache = AuthorizerCache()
    entry = _CachedPolicy("sub", _policy(ALLOW_ALL), {}, expires=100.0)
    cache.put(("auth", "token"), entry)
    assert cache.get(("auth", "token"), now=99.9) is entry
    assert cache.get(("auth", "other"), now=99.9) is None
    assert cache.get(("auth", "token"), now=100.0) is None
    assert cache.get(("auth", "token"), now=50.0) is None  # expired entries are dropped
