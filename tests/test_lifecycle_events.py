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

from localcloud.cloud import LocalCloud
from tests.test_api import PASSWORD, Api, new_email
from tests.test_audit_trail import bearer, request_id
from tests.test_security_api import seed_failures

SCHEMAS = Path(__file__).resolve().parent.parent / "events" / "schemas"


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


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
            for message in answer.get("Messages", []):
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


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
