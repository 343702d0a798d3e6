"""Single-table key layout and item (de)serialisation.

Items are in DynamoDB attribute-value JSON (``{"S": ...}``, ``{"N": ...}``, ``{"L": [...]}``),
the format of the low-level client and of Step Functions' DynamoDB integrations.

==============  ====================  =======  ================================  ===============
entity          pk                    sk       gsi1pk / gsi1sk                   expires_at
==============  ====================  =======  ================================  ===============
user            USER#<email>          PROFILE  USERID#<user_id> / PROFILE        -
refresh_token   REFRESH#<sha256 hex>  TOKEN    USERID#<user_id> /                the family's
                                               REFRESH#<family_id>#<issued_at>
refresh_family  FAMILY#<family_id>    FAMILY   USERID#<user_id> /                created_at +
                                               FAMILY#<family_id>                refresh TTL
denied_token    DENY#<jti>            JTI      -                                 the token's exp
tokens_valid_   VALIDAFTER#<user_id>  TOKENS   -                                 marker + 7 days
after
signing_keys    SIGNING_KEYS          PUBLIC   -                                 - (never)
audit           AUDIT#USER#<user_id>  <iso>#   AUDIT#<yyyy-mm-dd> /              at + audit
                or AUDIT#EMAIL#       <uuid>   <iso>#<action>#<outcome>          retention
                <email>
receipt         RECEIPT#<what>#<id>   RECEIPT  -                                 written + 2 days
==============  ====================  =======  ================================  ===============

Attributes besides the keys (the first column is each item's ``entity`` attribute):

- user: ``user_id, email, name, password_hash, roles (L of S), status ("active" |
  "disabled"), created_at (S, ISO 8601), disabled_at N`` (once disabled).
- refresh_token: ``family_id, user_id, issued_at N, status ("active" | "spent"), spent_at N``
  (once spent). Only the SHA-256 of the token is stored. ``expires_at`` is the family's
  absolute expiry: rotation never extends it.
- refresh_family: ``family_id, user_id, email, status ("active" | "revoked"), revoked_reason
  ("logout" | "logout_all" | "reuse" | "user_disabled" | "admin" | "account_deleted" |
  "session_ended"), revoked_at N, created_at N,
  last_used_at N, user_agent, source_ip``.
- denied_token (an access token on the denylist): ``expires_at`` only. The logout workflow
  writes it with a direct putItem, with exactly these attribute names.
- tokens_valid_after (the user's access tokens issued before this moment are refused):
  ``tokens_valid_after N`` (epoch seconds). Disabling and deleting a user set it (only ever
  forward); the authorizer reads it with the token's denylist entry in one BatchGetItem.
- signing_keys (the public signing keys): ``jwks`` (S, the public JWK Set as JSON text, no
  private part), ``updated_at N``. The authorizer and the JWKS endpoint read public keys
  from here, so only IssueTokens and the key administration read the private key secret.
- audit (one record of who did what, when, from where; see :mod:`steps.core.audit`):
  ``action, outcome, user_id, at N, source_ip, user_agent, request_id, execution_id, detail``
  (the optional ones only when known). ``user_id`` ``anonymous`` in the key when unknown.
  Attempts that name an email without an account (a failed login for an unknown email, a
  registration for a taken one) are kept under ``AUDIT#EMAIL#<normalised email>`` with an
  ``email`` attribute instead. The workflows write their records with direct putItems
  (``cdk/audit.py``): the sort key's unique part is then the execution name (the API request
  id). Never a password, hash or token.
- receipt (a side effect of the stream clean-up already done, e.g. the audit record of one
  expired session): no other attribute. It makes a redelivered stream record a no-op; it
  outlives the stream's 24-hour retention, then TTL removes it.

``expires_at`` is the table's TTL attribute (epoch seconds). TTL deletes late (typically within
48 hours), so every read that cares compares ``expires_at`` with the time itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from steps.core.aws import error_code

PK = "pk"
SK = "sk"
GSI1_NAME = "gsi1"
GSI1PK = "gsi1pk"
GSI1SK = "gsi1sk"
#: The table's TTL attribute (epoch seconds). TTL deletes late: readers check expiry themselves.
TTL_ATTRIBUTE = "expires_at"

USER_PREFIX = "USER#"
USER_SK = "PROFILE"
USER_ID_PREFIX = "USERID#"
REFRESH_PREFIX = "REFRESH#"
REFRESH_SK = "TOKEN"  # noqa: S105 - a sort key value, not a secret
FAMILY_PREFIX = "FAMILY#"
FAMILY_SK = "FAMILY"
DENY_PREFIX = "DENY#"
DENY_SK = "JTI"
VALID_AFTER_PREFIX = "VALIDAFTER#"
VALID_AFTER_SK = "TOKENS"  # noqa: S105 - a sort key value, not a secret
SIGNING_KEYS_PK = "SIGNING_KEYS"
SIGNING_KEYS_SK = "PUBLIC"
AUDIT_PREFIX = "AUDIT#"
RECEIPT_PREFIX = "RECEIPT#"
RECEIPT_SK = "RECEIPT"

STATUS_ACTIVE = "active"
STATUS_DISABLED = "disabled"
STATUS_SPENT = "spent"
STATUS_REVOKED = "revoked"
DEFAULT_ROLES: tuple[str, ...] = ("user",)

#: Why a refresh family was revoked.
REVOKE_REASONS: tuple[str, ...] = (
    "logout",
    "logout_all",
    "reuse",
    "user_disabled",
    "admin",
    "account_deleted",
    "session_ended",
    "password_reset",
    "password_changed",
)

Item = dict[str, dict[str, Any]]

ENTITY_USER = "user"
ENTITY_REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an entity name, not a secret
ENTITY_REFRESH_FAMILY = "refresh_family"
ENTITY_DENIED_TOKEN = "denied_token"  # noqa: S105 - an entity name, not a secret
ENTITY_AUDIT = "audit"
ENTITY_RECEIPT = "receipt"

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
#: BatchWriteItem takes at most this many requests.
BATCH_WRITE_MAX = 25
#: Tries of one BatchWriteItem chunk before giving up on its unprocessed items.
BATCH_ATTEMPTS = 5


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def user_key(email: str) -> Item:
    """Primary key of the user item for a normalised email."""
    return {PK: _s(f"{USER_PREFIX}{email}"), SK: _s(USER_SK)}


def refresh_token_key(token_hash: str) -> Item:
    """Primary key of a refresh token item (by the token's SHA-256 hex digest)."""
    return {PK: _s(f"{REFRESH_PREFIX}{token_hash}"), SK: _s(REFRESH_SK)}


def family_key(family_id: str) -> Item:
    """Primary key of a refresh family item."""
    return {PK: _s(f"{FAMILY_PREFIX}{family_id}"), SK: _s(FAMILY_SK)}


def deny_key(jti: str) -> Item:
    """Primary key of the denylist item of an access token (by its ``jti``)."""
    return {PK: _s(f"{DENY_PREFIX}{jti}"), SK: _s(DENY_SK)}


def tokens_valid_after_key(user_id: str) -> Item:
    """Primary key of a user's "tokens valid after" marker (by user id, as tokens carry it)."""
    return {PK: _s(f"{VALID_AFTER_PREFIX}{user_id}"), SK: _s(VALID_AFTER_SK)}


def public_keys_key() -> Item:
    """Primary key of the item holding the public signing keys (JWKS)."""
    return {PK: _s(SIGNING_KEYS_PK), SK: _s(SIGNING_KEYS_SK)}


def user_id_partition(user_id: str) -> str:
    """The gsi1 partition of everything that belongs to a user."""
    return f"{USER_ID_PREFIX}{user_id}"


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    email: str
    password_hash: str
    name: str = ""
    roles: tuple[str, ...] = DEFAULT_ROLES
    status: str = STATUS_ACTIVE
    created_at: str = ""
    #: None when not stored (registered under ``email_verification=off``).
    email_verified: bool | None = None

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def __repr__(self) -> str:  # keep the hash out of logs and tracebacks
        return f"UserRecord(user_id={self.user_id!r}, status={self.status!r})"


def user_item(user: UserRecord) -> Item:
    """The DynamoDB item for a user."""
    return {
        **user_key(user.email),
        "user_id": _s(user.user_id),
        "email": _s(user.email),
        "name": _s(user.name),
        "password_hash": _s(user.password_hash),
        "roles": {"L": [_s(role) for role in user.roles]},
        "status": _s(user.status),
        "created_at": _s(user.created_at),
        GSI1PK: _s(user_id_partition(user.user_id)),
        GSI1SK: _s(USER_SK),
        "entity": _s("user"),
    }


def _get_s(item: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = item.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return value["S"]
    if value is None and default is not None:
        return default
    raise ValueError(f"The item attribute {name} is missing or not a string.")


def _get_n(item: Mapping[str, Any], name: str) -> int:
    value = item.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("N"), str):
        try:
            return int(value["N"])
        except ValueError:
            pass
    raise ValueError(f"The item attribute {name} is missing or not an integer.")


def _get_optional_n(item: Mapping[str, Any], name: str) -> int | None:
    return None if item.get(name) is None else _get_n(item, name)


def _get_string_list(item: Mapping[str, Any], name: str, default: Sequence[str]) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return tuple(default)
    if isinstance(value, Mapping):
        if isinstance(value.get("L"), list):
            entries = value["L"]
            if all(isinstance(e, Mapping) and isinstance(e.get("S"), str) for e in entries):
                return tuple(e["S"] for e in entries)
        if isinstance(value.get("SS"), list) and all(isinstance(e, str) for e in value["SS"]):
            return tuple(value["SS"])
    raise ValueError(f"The item attribute {name} is not a list of strings.")


def user_from_item(item: Mapping[str, Any] | None) -> UserRecord | None:
    """A user from its item (None for no item). Optional attributes get their defaults.

    Raises ValueError when a required attribute (user_id, email, password_hash) is missing.
    """
    if not item:
        return None
    return UserRecord(
        user_id=_get_s(item, "user_id"),
        email=_get_s(item, "email"),
        password_hash=_get_s(item, "password_hash"),
        name=_get_s(item, "name", ""),
        roles=_get_string_list(item, "roles", DEFAULT_ROLES),
        status=_get_s(item, "status", STATUS_ACTIVE),
        created_at=_get_s(item, "created_at", ""),
        email_verified=_get_optional_bool(item, "email_verified"),
    )


def _get_optional_bool(item: Mapping[str, Any], name: str) -> bool | None:
    value = item.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("BOOL"), bool):
        return bool(value["BOOL"])
    return None


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    family_id: str
    user_id: str
    issued_at: int
    #: The family's absolute expiry.
    expires_at: int
    status: str = STATUS_ACTIVE
    spent_at: int | None = None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def is_spent(self) -> bool:
        return self.status != STATUS_ACTIVE


def refresh_token_item(record: RefreshTokenRecord) -> Item:
    """The DynamoDB item for a refresh token (only its hash is stored)."""
    item: Item = {
        **refresh_token_key(record.token_hash),
        "family_id": _s(record.family_id),
        "user_id": _s(record.user_id),
        "issued_at": _n(record.issued_at),
        TTL_ATTRIBUTE: _n(record.expires_at),
        "status": _s(record.status),
        "entity": _s("refresh_token"),
        GSI1PK: _s(user_id_partition(record.user_id)),
        GSI1SK: _s(f"{REFRESH_PREFIX}{record.family_id}#{record.issued_at}"),
    }
    if record.spent_at is not None:
        item["spent_at"] = _n(record.spent_at)
    return item


def refresh_token_from_item(item: Mapping[str, Any] | None) -> RefreshTokenRecord | None:
    if not item:
        return None
    pk = _get_s(item, PK)
    if not pk.startswith(REFRESH_PREFIX):
        raise ValueError("The item is not a refresh token.")
    return RefreshTokenRecord(
        token_hash=pk[len(REFRESH_PREFIX) :],
        family_id=_get_s(item, "family_id"),
        user_id=_get_s(item, "user_id"),
        issued_at=_get_n(item, "issued_at"),
        expires_at=_get_n(item, TTL_ATTRIBUTE),
        status=_get_s(item, "status", STATUS_ACTIVE),
        spent_at=_get_optional_n(item, "spent_at"),
    )


@dataclass(frozen=True)
class RefreshFamilyRecord:
    """A chain of rotated refresh tokens that started with one login or registration."""

    family_id: str
    user_id: str
    email: str
    created_at: int
    last_used_at: int
    #: Absolute expiry of the family and of every token in it.
    expires_at: int
    status: str = STATUS_ACTIVE
    user_agent: str = ""
    source_ip: str = ""
    revoked_reason: str | None = None
    revoked_at: int | None = None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def is_usable(self, now: float) -> bool:
        """Active and not expired (whether or not TTL has deleted it yet)."""
        return self.status == STATUS_ACTIVE and not self.is_expired(now)


def refresh_family_item(record: RefreshFamilyRecord) -> Item:
    """The DynamoDB item for a refresh family."""
    item: Item = {
        **family_key(record.family_id),
        "family_id": _s(record.family_id),
        "user_id": _s(record.user_id),
        "email": _s(record.email),
        "status": _s(record.status),
        "created_at": _n(record.created_at),
        "last_used_at": _n(record.last_used_at),
        TTL_ATTRIBUTE: _n(record.expires_at),
        "user_agent": _s(record.user_agent),
        "source_ip": _s(record.source_ip),
        GSI1PK: _s(user_id_partition(record.user_id)),
        GSI1SK: _s(f"{FAMILY_PREFIX}{record.family_id}"),
        "entity": _s("refresh_family"),
    }
    if record.revoked_reason is not None:
        item["revoked_reason"] = _s(record.revoked_reason)
    if record.revoked_at is not None:
        item["revoked_at"] = _n(record.revoked_at)
    return item


def refresh_family_from_item(item: Mapping[str, Any] | None) -> RefreshFamilyRecord | None:
    if not item:
        return None
    if not _get_s(item, PK).startswith(FAMILY_PREFIX):
        raise ValueError("The item is not a refresh family.")
    reason = item.get("revoked_reason")
    return RefreshFamilyRecord(
        family_id=_get_s(item, "family_id"),
        user_id=_get_s(item, "user_id"),
        email=_get_s(item, "email"),
        created_at=_get_n(item, "created_at"),
        last_used_at=_get_n(item, "last_used_at"),
        expires_at=_get_n(item, TTL_ATTRIBUTE),
        status=_get_s(item, "status", STATUS_ACTIVE),
        user_agent=_get_s(item, "user_agent", ""),
        source_ip=_get_s(item, "source_ip", ""),
        revoked_reason=None if reason is None else _get_s(item, "revoked_reason"),
        revoked_at=_get_optional_n(item, "revoked_at"),
    )


def denied_token_item(jti: str, exp: int) -> Item:
    """The denylist item of an access token, kept until the token's own ``exp``.

    The logout workflow writes this item with a direct putItem; this function documents the
    exact shape (and the tests use it).
    """
    return {**deny_key(jti), TTL_ATTRIBUTE: _n(exp), "entity": _s("denied_token")}


def public_keys_item(jwks: Mapping[str, Any], *, updated_at: int) -> Item:
    """The item holding the public JWK Set (the caller passes public parts only)."""
    return {
        **public_keys_key(),
        "jwks": _s(json.dumps(jwks, separators=(",", ":"), sort_keys=True)),
        "updated_at": _n(updated_at),
        "entity": _s("signing_keys"),
    }


def public_jwks_text_from_item(item: Mapping[str, Any] | None) -> str | None:
    """The stored JWK Set JSON text, or None when there is no such item."""
    if not item:
        return None
    return _get_s(item, "jwks")


class Table:
    """The service table through an injected low-level DynamoDB client.

    Build one with ``Table.from_client(boto3.client("dynamodb"), table_name)``.
    """

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    @classmethod
    def from_client(cls, client: Any, name: str) -> Table:
        """The table ``name`` through a boto3 low-level DynamoDB client."""
        if not isinstance(name, str) or not name:
            raise ValueError("A table name is required.")
        return cls(client, name)

    def put(self, item: Item) -> None:
        """Put an item unconditionally (replaces any item with the same key)."""
        self.client.put_item(TableName=self.name, Item=item)

    def put_new(self, item: Item) -> None:
        """Put an item that must not exist yet (conditional on ``attribute_not_exists(pk)``)."""
        self.client.put_item(
            TableName=self.name,
            Item=item,
            ConditionExpression=f"attribute_not_exists({PK})",
        )

    def put_all_new(self, items: Sequence[Item]) -> None:
        """Put several items atomically, each one only if it does not exist yet."""
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.name,
                        "Item": item,
                        "ConditionExpression": f"attribute_not_exists({PK})",
                    }
                }
                for item in items
            ]
        )

    def transact(self, operations: Sequence[Mapping[str, Mapping[str, Any]]]) -> bool:
        """Run a write transaction of ``{"Put" | "Update" | "ConditionCheck": {...}}`` items.

        ``TableName`` is filled in. Returns False when the transaction was cancelled (a
        condition failed or another transaction conflicted), True when it was written.
        """
        transact_items = [
            {kind: {"TableName": self.name, **params} for kind, params in operation.items()}
            for operation in operations
        ]
        try:
            self.client.transact_write_items(TransactItems=transact_items)
        except Exception as exc:
            if error_code(exc) == TRANSACTION_CANCELED:
                return False
            raise
        return True

    def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        item = response.get("Item")
        return item or None

    def get_many(self, keys: Sequence[Item], *, consistent: bool = True) -> list[Item]:
        """The items that exist among ``keys`` (one BatchGetItem; unprocessed keys retried)."""
        wanted = [dict(key) for key in keys]
        found: list[Item] = []
        for _ in range(BATCH_ATTEMPTS):
            if not wanted:
                return found
            response = self.client.batch_get_item(
                RequestItems={self.name: {"Keys": wanted, "ConsistentRead": consistent}}
            )
            found.extend(response.get("Responses", {}).get(self.name, []))
            wanted = response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
        if wanted:
            raise RuntimeError("DynamoDB left keys unprocessed; retry later.")
        return found

    def update_if(
        self,
        key: Item,
        *,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
    ) -> bool:
        """One conditional UpdateItem; False (nothing written) when the condition fails."""
        return self._conditionally(
            self.client.update_item,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=dict(values),
        )

    def delete_if(
        self,
        key: Item,
        *,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
    ) -> bool:
        """One conditional DeleteItem; False (nothing deleted) when the condition fails."""
        return self._conditionally(
            self.client.delete_item,
            Key=key,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=dict(values),
        )

    def _conditionally(self, write: Any, **request: Any) -> bool:
        try:
            write(TableName=self.name, **request)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def update_returning(
        self,
        key: Item,
        *,
        update: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
        condition: str | None = None,
    ) -> Item | None:
        """One UpdateItem (conditional when ``condition`` is given) returning the item as
        written, in the same request (an atomic counter's new value); None when the condition
        fails."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": key,
            "UpdateExpression": update,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": dict(values),
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            answer = self.client.update_item(**request)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise
        return answer.get("Attributes") or None

    def delete(self, key: Item) -> None:
        """Delete an item unconditionally (deleting a missing item is not an error)."""
        self.client.delete_item(TableName=self.name, Key=key)

    def delete_all(
        self,
        keys: Sequence[Item],
        *,
        attempts: int = BATCH_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Delete every item of ``keys`` (BatchWriteItem, 25 at a time); return how many.

        Deleting an item that does not exist is not an error, so this is idempotent. Items
        DynamoDB leaves unprocessed (throttling) are retried with a growing pause; RuntimeError
        when some are still left after ``attempts`` tries (the caller's stream record is retried).
        """
        for start in range(0, len(keys), BATCH_WRITE_MAX):
            requests: list[dict[str, Any]] = [
                {"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_MAX]
            ]
            for attempt in range(attempts):
                response = self.client.batch_write_item(RequestItems={self.name: requests})
                requests = response.get("UnprocessedItems", {}).get(self.name, [])
                if not requests:
                    break
                sleep(0.05 * 2**attempt)
            if requests:
                raise RuntimeError("DynamoDB left deletions unprocessed; try again later.")
        return len(keys)

    def put_once(self, receipt: Item, *items: Item) -> bool:
        """Put ``items`` together with ``receipt``, only if the receipt does not exist yet.

        One transaction: either the receipt and every item are written, or nothing is. Returns
        False when the receipt already exists (this was done before), True when written. Any
        other cancellation (a conflicting transaction) raises, so the caller retries.
        """
        operations = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": receipt,
                    "ConditionExpression": f"attribute_not_exists({PK})",
                }
            },
            *({"Put": {"TableName": self.name, "Item": item}} for item in items),
        ]
        try:
            self.client.transact_write_items(TransactItems=operations)
        except Exception as exc:
            if error_code(exc) == TRANSACTION_CANCELED and _receipt_exists(exc):
                return False
            raise
        return True

    def query_gsi1(
        self, partition: str, *, sk_prefix: str = "", sk_equals: str = ""
    ) -> Iterator[Item]:
        """Every item of a gsi1 partition (all pages), optionally narrowed by its sort key.

        Global secondary indexes are eventually consistent: an item written a moment ago may
        be missing from the result.
        """
        condition = "#pk = :pk"
        values: dict[str, Any] = {":pk": _s(partition)}
        names = {"#pk": GSI1PK}
        if sk_equals:
            condition += " AND #sk = :sk"
            values[":sk"] = _s(sk_equals)
            names["#sk"] = GSI1SK
        elif sk_prefix:
            condition += " AND begins_with(#sk, :sk)"
            values[":sk"] = _s(sk_prefix)
            names["#sk"] = GSI1SK
        params: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": GSI1_NAME,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        while True:
            response = self.client.query(**params)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last


def _receipt_exists(exc: BaseException) -> bool:
    """Whether a cancelled put_once failed on its receipt's condition (the first operation)."""
    response = getattr(exc, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, dict) else None
    if not isinstance(reasons, list) or not reasons or not isinstance(reasons[0], dict):
        return False
    return reasons[0].get("Code") == "ConditionalCheckFailed"


def default_table() -> Table:
    """The table named by TABLE_NAME, through the process-wide DynamoDB client."""
    from steps.core.aws import client
    from steps.core.config import get_config

    return Table(client("dynamodb"), get_config().required_table_name)
