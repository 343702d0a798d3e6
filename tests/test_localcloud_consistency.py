"""Local DynamoDB under concurrent reads and transactions (localcloud/dynamodb_transactions.py)."""

from __future__ import annotations

import threading
import uuid

import boto3

from localcloud import dynamodb_transactions, patches
from localcloud.cloud import LocalCloud
from tests.fakes.tables import create_pk_sk_table


def test_reads_take_the_writes_lock() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    patches.apply()
    for name in dynamodb_transactions.DYNAMODB_READS:
        assert hasattr(getattr(DynamoDBBackend, name), "__wrapped__"), name


def test_transactions_and_reads_of_unknown_keys_run_side_by_side(
    local_cloud: LocalCloud,
) -> None:
    """moto's get_item inserts an empty partition for an unknown key while a transaction
    deep-copies the table: without the shared lock this raised RuntimeError within a few
    dozen rounds. Runs on the local cloud's own backend (no mock_aws here: it would reset the
    session's local cloud)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    region = local_cloud.settings.region
    client = boto3.Session(region_name=region).client("dynamodb")
    table = f"race-{uuid.uuid4().hex[:6]}"
    create_pk_sk_table(client, table)
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    for n in range(20):
        client.put_item(TableName=table, Item={"pk": {"S": f"p{n}"}, "sk": {"S": "s"}})
    errors: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        for _ in range(40):
            item = {"pk": {"S": f"w{uuid.uuid4().hex}"}, "sk": {"S": "s"}}
            try:
                backend.transact_write_items([{"Put": {"TableName": table, "Item": item}}])
            except BaseException as error:  # noqa: BLE001 - every failure is the finding
                errors.append(error)
        stop.set()

    def read() -> None:
        while not stop.is_set():
            try:
                backend.get_item(table, {"pk": {"S": f"u{uuid.uuid4().hex}"}, "sk": {"S": "s"}})
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.delete_table(TableName=table)
    assert errors == []
