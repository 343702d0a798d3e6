"""Lifecycle events on the stack's bus, observed as an integrator would: an SQS queue subscribed
by a rule receives every event, each detail valid against its schema in events/schemas and free
of secrets; the stack's own rule keeps them in the event log group."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from localcloud import faults
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultRule
from steps.core.table import Table
from tests.test_api import PASSWORD, Api, new_email
from tests.test_audit_trail import bearer, request_id
from tests.test_refresh_grace_api import (
    GRACE_SECONDS,
    age_the_spend,
    concurrently,
    family_id_of,
    refresh,
    reuse_records,
)
from tests.test_security_api import seed_failures

SCHEMAS = Path(__file__).resolve().parent.parent / "events" / "schemas"


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Table:
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    return Table(client, local_cloud.stack.outputs["TableName"])


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


class Subscriber:
    """An integrator's queue, subscribed to every stepauth event by a rule on the bus."""

    def __init__(self, aws: boto3.Session, bus: str) -> None:
        self.sqs = aws.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"integrator-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = aws.client("events")
        name = f"integrator-{uuid.uuid4().hex[:8]}"
        events.put_rule(
            Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["stepauth"]})
        )
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        self.received: list[dict[str, Any]] = []

    def wait_for(self, detail_type: str, user_id: str, seconds: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            for event in self.received:
                if event["detail-type"] == detail_type and event["detail"]["user_id"] == user_id:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {detail_type} for {user_id}: {self.received}")
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10)
            self._take(answer.get("Messages", []))

    def _take(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.received.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def drain(self) -> None:
        """Receive whatever the queue holds now (the local bus delivers to SQS inside
        PutEvents, so every event of an answered request is there already)."""
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            self._take(messages)

    def seen(self, detail_type: str, **detail: str) -> list[dict[str, Any]]:
        self.drain()
        return [
            event
            for event in self.received
            if event["detail-type"] == detail_type
            and all(event["detail"].get(k) == v for k, v in detail.items())
        ]


@pytest.fixture(scope="module")
def subscriber(aws: boto3.Session, local_cloud: LocalCloud) -> Subscriber:
    return Subscriber(aws, local_cloud.stack.outputs["EventBusName"])


def check(event: dict[str, Any], detail_type: str) -> dict[str, Any]:
    assert event["source"] == "stepauth"
    assert event["detail-type"] == detail_type
    schema = json.loads((SCHEMAS / f"{detail_type}.json").read_text())
    jsonschema.validate(event["detail"], schema)
    text = json.dumps(event)
    for secret in (PASSWORD, "password", "hash", 'token":', "$argon2"):
        assert secret not in text
    return dict(event["detail"])


def test_every_published_event_has_a_schema_and_readme_lists_it() -> None:
    from cdk.events import EVENT_NAMES

    readme = (SCHEMAS.parent.parent / "README.md").read_text()
    for path in SCHEMAS.glob("*.json"):
        assert path.stem in EVENT_NAMES
        assert f"`{path.stem}`" in readme
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_registration_is_published(api: Api, subscriber: Subscriber) -> None:
    email = new_email()
    registered = api.register(email)
    assert registered.status == 201
    user = registered.json()["user"]
    detail = check(subscriber.wait_for("UserRegistered", user["id"]), "UserRegistered")
    assert detail["email"] == email
    assert detail["request_id"] == request_id(registered)
    assert detail["created_at"] == user["created_at"]


def test_a_refused_login_of_a_locked_account_is_published(
    api: Api, subscriber: Subscriber, local_cloud: LocalCloud
) -> None:
    email = new_email()
    user_id = api.register(email).json()["user"]["id"]
    seed_failures(local_cloud, email, 9)
    locked = api.login(email)
    assert locked.status == 429
    detail = check(subscriber.wait_for("AccountLocked", user_id), "AccountLocked")
    assert str(detail["retry_after_seconds"]) == locked.headers["retry-after"]


def test_disable_and_delete_are_published(
    api: Api, subscriber: Subscriber, local_cloud: LocalCloud
) -> None:
    from stepauth.cli import main

    admin_email = new_email()
    assert api.register(admin_email).status == 201
    endpoint = ["--endpoint-url", local_cloud.settings.aws_endpoint]
    assert main(["users", "grant-role", admin_email, "admin", *endpoint]) == 0
    admin = api.login(admin_email).json()
    victim_id = api.register(new_email()).json()["user"]["id"]
    disabled = api.call(
        "POST", f"/v1/admin/users/{victim_id}/disable", "{}", bearer(admin["access_token"])
    )
    assert disabled.status == 200
    detail = check(subscriber.wait_for("UserDisabled", victim_id), "UserDisabled")
    assert detail["by_admin"] == admin["user"]["id"]

    deleted = api.call("DELETE", "/v1/me", headers=bearer(admin["access_token"]))
    assert deleted.status == 204
    detail = check(subscriber.wait_for("UserDeleted", admin["user"]["id"]), "UserDeleted")
    assert detail["request_id"] == request_id(deleted)


def test_the_stack_keeps_every_event_in_its_event_log(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    user_id = api.register(new_email()).json()["user"]["id"]
    logs = aws.client("logs")
    group = local_cloud.stack.outputs["EventLogGroup"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = logs.filter_log_events(logGroupName=group, filterPattern=f'"{user_id}"')
        if found["events"]:
            break
        time.sleep(0.05)
    [entry] = found["events"]
    assert json.loads(entry["message"])["detail-type"] == "UserRegistered"


def test_a_failed_publish_does_not_fail_the_request(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    """With the bus gone, registration still answers 201 (the event is lost, not the user)."""
    from moto.events.models import events_backends

    backend = events_backends[local_cloud.stack.account_id][local_cloud.settings.region]
    name = local_cloud.stack.outputs["EventBusName"]
    bus = backend.event_buses.pop(name)
    try:
        assert api.register(new_email()).status == 201
    finally:
        backend.event_buses[name] = bus


def test_a_detected_refresh_token_reuse_is_published_once(
    api: Api, subscriber: Subscriber, table: Table
) -> None:
    """A replay within the grace window publishes nothing; ten concurrent replays after it
    revoke the family once: one audit record, one event, and every answer 400 invalid_grant."""
    session = api.register(new_email()).json()
    user_id, first = session["user"]["id"], session["refresh_token"]
    family_id = family_id_of(table, first)
    current = refresh(api, first).json()["refresh_token"]
    assert refresh(api, first).json()["refresh_token"] == current  # a replay: the same token
    assert subscriber.seen("RefreshTokenReuseDetected", user_id=user_id) == []

    age_the_spend(table, first, GRACE_SECONDS + 1)
    answers = concurrently(api, first)
    assert [a.status for a in answers] == [400] * 10
    assert {a.json()["error"] for a in answers} == {"invalid_grant"}
    event = subscriber.wait_for("RefreshTokenReuseDetected", user_id)
    detail = check(event, "RefreshTokenReuseDetected")
    assert detail["session_id"] == family_id
    assert detail["request_id"] in {request_id(a) for a in answers}
    for answer in answers:  # no token, hash or family id reaches the client
        assert family_id.encode() not in answer.body and current.encode() not in answer.body
    assert subscriber.seen("RefreshTokenReuseDetected", user_id=user_id) == [event]
    assert len(reuse_records(table, user_id)) == 1


def test_a_failed_reuse_event_does_not_change_the_answer(
    api: Api, table: Table, local_cloud: LocalCloud
) -> None:
    session = api.register(new_email()).json()
    first = session["refresh_token"]
    refresh(api, first)
    age_the_spend(table, first, GRACE_SECONDS + 1)
    # Throttled on every attempt the Task makes: the event is lost, not the answer.
    rule = FaultRule("events", "PutEvents", "throttle", times=2)
    with faults.inject(rule):
        reused = refresh(api, first)
    assert rule.fired >= 1
    assert reused.status == 400, reused.body
    assert reused.json()["error"] == "invalid_grant"
    assert len(reuse_records(table, session["user"]["id"])) == 1


def test_no_registration_is_published_for_an_account_taken_back(
    api: Api, subscriber: Subscriber, table: Table
) -> None:
    """IssueTokens failing past its retries takes the account back (503): UserRegistered is
    published only after the tokens, so only the client's successful retry is announced."""
    email = new_email()
    rule = FaultRule("lambda", "Invoke", "throttle", times=3, function="IssueTokens")
    with faults.inject(rule):
        unavailable = api.register(email)
    assert rule.fired == 3
    assert unavailable.status == 503, unavailable.body
    retried = api.register(email)
    assert retried.status == 201, retried.body
    user_id = retried.json()["user"]["id"]
    event = subscriber.wait_for("UserRegistered", user_id)
    assert subscriber.seen("UserRegistered", email=email) == [event]
