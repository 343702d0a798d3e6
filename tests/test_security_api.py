"""Security behaviour over HTTP: brute-force lockout and password re-hashing."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from localcloud.cloud import LocalCloud
from steps.core.passwords import Argon2Params, PasswordHasher
from tests.test_api import PASSWORD, Api, new_email


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


def dynamodb(cloud: LocalCloud):
    return boto3.Session(region_name=cloud.settings.region).client("dynamodb")


def lockout_item(cloud: LocalCloud, email: str) -> dict:
    return (
        dynamodb(cloud)
        .get_item(
            TableName=cloud.stack.outputs["TableName"],
            Key={"pk": {"S": f"LOCKOUT#{email}"}, "sk": {"S": "FAILURES"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )


def seed_failures(cloud: LocalCloud, email: str, failures: int) -> None:
    now = int(time.time())
    dynamodb(cloud).put_item(
        TableName=cloud.stack.outputs["TableName"],
        Item={
            "pk": {"S": f"LOCKOUT#{email}"},
            "sk": {"S": "FAILURES"},
            "failures": {"N": str(failures)},
            "last_failure_at": {"N": str(now)},
            "expires_at": {"N": str(now + 3600)},
        },
    )


def test_failures_are_counted_per_email(api: Api, local_cloud: LocalCloud) -> None:
    email = new_email()
    assert api.register(email).status == 201
    for _ in range(4):
        assert api.login(email, "not the right passphrase").status == 401
    assert lockout_item(local_cloud, email)["failures"]["N"] == "4"
    assert api.login(email).status == 200  # four failures are free; success clears them
    assert lockout_item(local_cloud, email) == {}


def test_a_locked_account_gets_429_even_for_the_right_password(api: Api, local_cloud) -> None:
    email = new_email()
    assert api.register(email).status == 201
    seed_failures(local_cloud, email, 9)  # the 9th failure locks for 2 ** 4 = 16 s
    locked = api.login(email)
    assert locked.status == 429
    assert locked.json()["error"] == "account_locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 16
    assert f"{locked.headers['retry-after']} seconds" in locked.json()["error_description"]
    assert lockout_item(local_cloud, email)["failures"]["N"] == "9"  # refused, not counted


def test_unknown_emails_lock_the_same_way(api: Api, local_cloud: LocalCloud) -> None:
    known, unknown = new_email(), new_email()
    api.register(known)
    for email in (known, unknown):
        seed_failures(local_cloud, email, 9)
    answers = [api.login(email, "not the right passphrase") for email in (known, unknown)]
    assert [a.status for a in answers] == [429, 429]
    assert answers[0].json()["error"] == answers[1].json()["error"] == "account_locked"


def test_concurrent_failures_are_all_counted(api: Api, local_cloud: LocalCloud) -> None:
    email = new_email()
    api.register(email)
    barrier = threading.Barrier(6)

    def fail() -> None:
        barrier.wait()
        api.login(email, "not the right passphrase")

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    item = dynamodb(local_cloud).get_item(
        TableName=local_cloud.stack.outputs["TableName"],
        Key={"pk": {"S": f"LOCKOUT#{email}"}, "sk": {"S": "FAILURES"}},
        ConsistentRead=True,
    )["Item"]
    # Attempts that arrive while the account is already locked are refused without counting.
    assert 5 <= int(item["failures"]["N"]) <= 6


def test_login_upgrades_an_outdated_password_hash(api: Api, local_cloud: LocalCloud) -> None:
    email = new_email()
    api.register(email)
    table = local_cloud.stack.outputs["TableName"]
    key = {"pk": {"S": f"USER#{email}"}, "sk": {"S": "PROFILE"}}
    weak = PasswordHasher(Argon2Params(8192, 1, 1)).hash(PASSWORD)
    dynamodb(local_cloud).update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET password_hash = :h",
        ExpressionAttributeValues={":h": {"S": weak}},
    )
    assert api.login(email).status == 200
    stored = dynamodb(local_cloud).get_item(TableName=table, Key=key)["Item"]["password_hash"]["S"]
    assert stored != weak and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert api.login(email).status == 200
