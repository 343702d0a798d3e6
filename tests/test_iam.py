"""IAM enforced in the local cloud from the synthesized template (localcloud/iam.py).

The evaluator's rules are checked on small policies; then, on the running local cloud, removing
one grant from the deployed policies turns the matching end-to-end call into AccessDenied, as it
would be on AWS, while the operator's own calls (no role) stay administrator calls.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import iam
from localcloud.cloud import LocalCloud

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/step"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/stepauth-table"


def evaluator(*statements: dict[str, Any]) -> iam.PolicyEvaluator:
    parsed = iam.statements_of({"Statement": list(statements)}, "TestPolicy")
    return iam.PolicyEvaluator({ROLE: ("StepRole", parsed)})


def allowed(policy: iam.PolicyEvaluator, action: str, resource: str) -> bool:
    return policy.decide(ROLE, action, resource).allowed


# -- the evaluator ----------------------------------------------------------------------------


def test_allow_needs_a_matching_action_and_resource() -> None:
    policy = evaluator({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
    assert allowed(policy, "dynamodb:GetItem", TABLE)
    assert not allowed(policy, "dynamodb:PutItem", TABLE)
    assert not allowed(policy, "dynamodb:GetItem", TABLE + "-other")
    assert not allowed(policy, "dynamodb:GetItem", TABLE + "/index/gsi1")


def test_a_remembered_decision_is_the_decision_and_grants_are_still_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = evaluator({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
    monkeypatch.setattr(iam, "MAX_REMEMBERED_DECISIONS", 3)
    questions = [("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE)] * 2 + [
        ("dynamodb:GetItem", f"{TABLE}-{n}") for n in range(5)
    ]
    for action, resource in questions * 2:  # asked again after the memory was cleared, too
        assert policy.decide(ROLE, action, resource) == policy._decide(ROLE, action, resource)
    assert len(policy._decisions) <= 3
    assert policy.used_grants() == set()
    policy.authorize(ROLE, [("dynamodb:GetItem", TABLE)])
    policy.authorize(ROLE, [("dynamodb:GetItem", TABLE)])  # a remembered decision
    assert {grant.action for grant in policy.used_grants()} == {"dynamodb:GetItem"}
    with pytest.raises(iam.AccessDenied):
        policy.authorize(ROLE, [("dynamodb:PutItem", TABLE)])


def test_grants_are_counted_once_per_request_and_the_memory_of_it_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warm function's repeated call is counted once; the requests remembered as counted are
    bounded (a log stream per minute is a new resource), and a cleared memory counts again."""
    policy = evaluator(
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE},
    )
    monkeypatch.setattr(iam, "MAX_REMEMBERED_DECISIONS", 3)
    for minute in range(10):
        policy.authorize(ROLE, [("logs:PutLogEvents", f"arn:aws:logs:stream-{minute}")])
        assert len(policy._counted) <= 3
    assert {grant.action for grant in policy.used_grants()} == {"logs:PutLogEvents"}
    policy.authorize(ROLE, [("dynamodb:GetItem", TABLE)])
    policy.authorize(ROLE, [("dynamodb:GetItem", TABLE)])  # counted already: nothing to add
    assert {grant.action for grant in policy.used_grants()} == {
        "logs:PutLogEvents",
        "dynamodb:GetItem",
    }
    with pytest.raises(iam.AccessDenied):  # a counted request is still decided every time
        policy.authorize(ROLE, [("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE)])


def test_wildcards_actions_case_insensitive_resources_case_sensitive() -> None:
    policy = evaluator(
        {"Effect": "Allow", "Action": ["dynamodb:Get*", "states:Start?yncExecution"],
         "Resource": [TABLE, f"{TABLE}/index/*", "arn:aws:states:*"]}
    )  # fmt: skip
    assert allowed(policy, "DynamoDB:getitem", TABLE)
    assert allowed(policy, "dynamodb:GetRecords", f"{TABLE}/index/gsi1")
    assert allowed(policy, "states:StartSyncExecution", "arn:aws:states:us-east-1:1:stateMachine:x")
    assert not allowed(policy, "states:StartExecution", "arn:aws:states:us-east-1:1:stateMachine:x")
    assert not allowed(policy, "dynamodb:GetItem", TABLE.upper())


def test_explicit_deny_wins_and_not_action_not_resource() -> None:
    policy = evaluator(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": TABLE},
        {"Effect": "Deny", "NotAction": "dynamodb:*", "Resource": "*"},
    )
    assert allowed(policy, "dynamodb:Query", TABLE)
    assert not allowed(policy, "dynamodb:Scan", TABLE)
    assert allowed(policy, "dynamodb:Scan", TABLE + "-other")
    assert not allowed(policy, "secretsmanager:GetSecretValue", "*")
    only_other = evaluator({"Effect": "Allow", "Action": "*", "NotResource": TABLE})
    assert not allowed(only_other, "dynamodb:GetItem", TABLE)
    assert allowed(only_other, "dynamodb:GetItem", TABLE + "-other")


def test_only_the_stack_roles_are_enforced_and_conditions_are_refused() -> None:
    policy = evaluator({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert not policy.decide("arn:aws:iam::1:role/other", "dynamodb:GetItem", TABLE).allowed
    policy.authorize("arn:aws:iam::1:role/other", [("dynamodb:GetItem", TABLE)])  # not checked
    with pytest.raises(iam.AccessDenied):
        iam.PolicyEvaluator({ROLE: ("StepRole", [])}).authorize(ROLE, [("s3:GetObject", "*")])
    with pytest.raises(iam.PolicyError):
        iam.statements_of(
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                            "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]},
            "P",
        )  # fmt: skip


def test_transactions_and_batches_are_checked_as_their_inner_actions() -> None:
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "stepauth-table", "Item": {}}},
            {"Update": {"TableName": "stepauth-table", "Key": {}}},
            {"Delete": {"TableName": "other", "Key": {}}},
            {"ConditionCheck": {"TableName": "stepauth-table", "Key": {}}},
        ]
    }
    assert iam.authorization_requests(
        "dynamodb", "TransactWriteItems", transaction, REGION, ACCOUNT
    ) == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"),
        ("dynamodb:ConditionCheckItem", TABLE),
    ]
    batch = {"RequestItems": {"stepauth-table": [{"DeleteRequest": {"Key": {}}}]}}
    assert iam.authorization_requests("dynamodb", "BatchWriteItem", batch, REGION, ACCOUNT) == [
        ("dynamodb:BatchWriteItem", TABLE)
    ]
    query = {"TableName": "stepauth-table", "IndexName": "gsi1"}
    assert iam.authorization_requests("dynamodb", "Query", query, REGION, ACCOUNT) == [
        ("dynamodb:Query", f"{TABLE}/index/gsi1")
    ]
    policy = evaluator({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE})
    with pytest.raises(iam.AccessDenied) as denied:
        policy.authorize(
            ROLE,
            iam.authorization_requests(
                "dynamodb", "TransactWriteItems", transaction, REGION, ACCOUNT
            ),
        )
    assert denied.value.action == "dynamodb:UpdateItem"
    assert "is not authorized to perform: dynamodb:UpdateItem" in str(denied.value)


def test_other_services_resolve_their_resource_arns() -> None:
    def requests(service: str, operation: str, params: dict[str, Any]) -> list[Any]:
        return iam.authorization_requests(service, operation, params, REGION, ACCOUNT)

    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:login"
    assert requests("stepfunctions", "StartSyncExecution", {"stateMachineArn": machine}) == [
        ("states:StartSyncExecution", machine)
    ]
    assert requests("lambda", "Invoke", {"FunctionName": "fn"}) == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn")
    ]
    assert requests(
        "lambda", "Invoke", {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn:3"}
    ) == [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn")]
    assert requests("events", "PutEvents", {"Entries": [{"EventBusName": "bus"}, {}]}) == [
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/bus"),
        ("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"),
    ]
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/failures"
    assert requests("sqs", "SendMessage", {"QueueUrl": url}) == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures")
    ]
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert requests("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"}) == [("kms:Encrypt", key)]
    assert requests("kms", "Decrypt", {"KeyId": key.rsplit("/", 1)[1]}) == [("kms:Decrypt", key)]
    from moto.kms.utils import Ciphertext, _serialize_ciphertext_blob

    blob = _serialize_ciphertext_blob(
        Ciphertext(key_id=key.rsplit("/", 1)[1], iv=b"i" * 12, ciphertext=b"c", tag=b"t" * 16)
    )
    # A Decrypt that names no key is checked against the key the ciphertext was made with.
    assert requests("kms", "Decrypt", {"CiphertextBlob": blob}) == [("kms:Decrypt", key)]
    stream = f"{TABLE}/stream/2026-01-01T00:00:00.000"
    assert requests("dynamodbstreams", "GetRecords", {"StreamArn": stream}) == [
        ("dynamodb:GetRecords", stream)
    ]


# -- on the running local cloud ---------------------------------------------------------------


def without(policy: iam.PolicyEvaluator, *grants: iam.Grant) -> iam.PolicyEvaluator:
    """The same policies with the given actions of statements of roles deleted."""
    roles = dict(policy.roles)
    for grant in grants:
        for arn, (logical_id, statements) in roles.items():
            if logical_id == grant.role:
                statements = [
                    dataclasses.replace(s, actions=tuple(a for a in s.actions if a != grant.action))
                    if s.policy == grant.policy and s.resources == grant.resources
                    else s
                    for s in statements
                ]
            roles[arn] = (logical_id, statements)
    return iam.PolicyEvaluator(roles)


def recording_registration(cloud: LocalCloud, policy: iam.PolicyEvaluator) -> set[iam.Grant]:
    """The grants one registration uses (the stream poller paused: it is not the request)."""
    recorder = iam.PolicyEvaluator(policy.roles)
    assert cloud.streams is not None
    with cloud.streams.paused(), enforcing(recorder):
        assert register(cloud) == 201
    return recorder.used_grants()


@contextmanager
def enforcing(policy: iam.PolicyEvaluator) -> Iterator[iam.PolicyEvaluator]:
    original = iam.evaluator()
    assert original is not None, "the local cloud enforces IAM by default"
    iam.enable(policy)
    try:
        yield policy
    finally:
        iam.enable(original)
        original.absorb(policy)


def post_json(cloud: LocalCloud, path: str, document: Any) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(
        cloud.settings.client_host, cloud.settings.gateway_port, timeout=60
    )
    try:
        connection.request("POST", path, json.dumps(document), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if body else {}
    finally:
        connection.close()


def register(cloud: LocalCloud) -> int:
    email = f"iam-{uuid.uuid4().hex[:10]}@example.com"
    status, _ = post_json(
        cloud, "/v1/register", {"email": email, "password": "correct horse battery staple"}
    )
    return status


def test_enforcement_is_on_by_default_and_registration_passes_under_it(
    local_cloud: LocalCloud,
) -> None:
    policy = iam.evaluator()
    assert policy is not None
    used = recording_registration(local_cloud, policy)
    # The integration role started the workflow; a state machine role and function roles ran it.
    roles = {grant.role for grant in used}
    assert any(g.action == "states:StartSyncExecution" for g in used), used
    assert len(roles) >= 3, roles


def test_deleting_any_grant_registration_uses_fails_registration(local_cloud: LocalCloud) -> None:
    """Each grant a registration exercises is needed: without it, AccessDenied breaks it, except
    the publish of UserRegistered, which is best-effort by design (a lost event never fails a
    request): without that grant the registration is served and the event is lost."""
    policy = iam.evaluator()
    assert policy is not None
    needed = sorted(recording_registration(local_cloud, policy), key=str)
    assert needed
    best_effort = [g for g in needed if g.action == "events:PutEvents"]
    assert best_effort, "registration publishes UserRegistered"
    survived, refused = [], []
    assert local_cloud.streams is not None
    for grant in needed:
        with local_cloud.streams.paused(), enforcing(without(policy, grant)):
            status = register(local_cloud)
        if grant in best_effort:
            if status != 201:
                refused.append(str(grant))
        elif status == 201:
            survived.append(str(grant))
    assert not survived, f"registration still succeeds without: {survived}"
    assert not refused, f"a lost event failed the registration: {refused}"


def test_a_denied_integration_call_is_a_contract_500_not_a_leak(local_cloud: LocalCloud) -> None:
    policy = iam.evaluator()
    assert policy is not None
    starts = [g for g in policy.all_grants() if g.action == "states:StartSyncExecution"]
    assert starts
    with enforcing(without(policy, *starts)):
        status, body = post_json(local_cloud, "/v1/login", {"email": "a@example.com"})
    assert status == 500
    assert body["error"] == "server_error"
    assert "not authorized" not in json.dumps(body)


def test_code_running_as_no_role_is_the_local_administrator(local_cloud: LocalCloud) -> None:
    deny_all = iam.PolicyEvaluator({ROLE: ("StepRole", [])})
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    with enforcing(deny_all):
        client.describe_table(TableName=local_cloud.stack.outputs["TableName"])
        with iam.acting_as(ROLE), pytest.raises(ClientError) as denied:
            client.describe_table(TableName=local_cloud.stack.outputs["TableName"])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:DescribeTable" in str(denied.value)


def test_the_cleanup_sends_failed_batches_only_with_its_send_grant(local_cloud: LocalCloud) -> None:
    """The stream mapping's on-failure destination is written as the function's role."""
    from localcloud.streams import MappingSettings

    policy = iam.evaluator()
    assert policy is not None and local_cloud.streams is not None
    streams = local_cloud.streams.poller
    (mapping,) = [m for m in streams.mappings() if "StreamCleanup" in m.function_arn]
    assert mapping.on_failure is not None
    assert isinstance(mapping, MappingSettings)
    assert streams._may_send(mapping, mapping.on_failure)
    sends = [g for g in policy.all_grants() if g.action == "sqs:SendMessage"]
    assert sends
    with enforcing(without(policy, *sends)):
        assert not streams._may_send(mapping, mapping.on_failure)
        assert streams._may_poll(mapping)  # reading the stream needs no send grant
    reads = [g for g in policy.all_grants() if g.action == "dynamodb:GetRecords"]
    with enforcing(without(policy, *reads)):
        assert not streams._may_poll(mapping)
