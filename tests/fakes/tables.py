"""Scratch tables for the local cloud's own DynamoDB tests: one key shape, options as needed."""

from __future__ import annotations

from typing import Any


def create_pk_sk_table(
    client: Any, name: str, *, index: tuple[str, ...] = (), stream: bool = False
) -> dict[str, Any]:
    """A pay-per-request table keyed by ``pk`` (hash) and ``sk`` (range), all strings.

    ``index``: the key attributes (hash, then optionally range) of a ``gsi1`` projecting
    everything; ``stream``: a stream of new and old images. Returns ``TableDescription``.
    """
    key_roles = ("HASH", "RANGE")
    spec: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"} for attribute in ("pk", "sk", *index)
        ],
    }
    if index:
        spec["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": attribute, "KeyType": role}
                    for attribute, role in zip(index, key_roles, strict=False)
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    if stream:
        spec["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    return client.create_table(**spec)["TableDescription"]  # type: ignore[no-any-return]
