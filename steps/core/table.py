"""Single-table key layout and item (de)serialisation.

Items are in DynamoDB attribute-value JSON (``{"S": ...}``, ``{"N": ...}``, ``{"L": [...]}``),
the format of the low-level client and of Step Functions' DynamoDB integrations.

=================  =======================  ===========  ==============================
entity             pk                       sk           gsi1pk / gsi1sk
=================  =======================  ===========  ==============================
user               USER#<email>             PROFILE      USERID#<user_id> / PROFILE
refresh token      REFRESH#<sha256 hex>     TOKEN        USERID#<user_id> /
                                                         REFRESH#<family_id>#<issued_at>
=================  =======================  ===========  ==============================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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

STATUS_ACTIVE = "active"
STATUS_DISABLED = "disabled"
DEFAULT_ROLES: tuple[str, ...] = ("user",)

Item = dict[str, dict[str, Any]]


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


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    email: str
    password_hash: str
    name: str = ""
    roles: tuple[str, ...] = DEFAULT_ROLES
    status: str = STATUS_ACTIVE
    created_at: str = ""

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
        GSI1PK: _s(f"{USER_ID_PREFIX}{user.user_id}"),
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
    )


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    family_id: str
    user_id: str
    issued_at: int
    expires_at: int
    status: str = STATUS_ACTIVE

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


def refresh_token_item(record: RefreshTokenRecord) -> Item:
    """The DynamoDB item for a refresh token (only its hash is stored)."""
    return {
        **refresh_token_key(record.token_hash),
        "family_id": _s(record.family_id),
        "user_id": _s(record.user_id),
        "issued_at": _n(record.issued_at),
        TTL_ATTRIBUTE: _n(record.expires_at),
        "status": _s(record.status),
        "entity": _s("refresh_token"),
        GSI1PK: _s(f"{USER_ID_PREFIX}{record.user_id}"),
        GSI1SK: _s(f"{REFRESH_PREFIX}{record.family_id}#{record.issued_at}"),
    }


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
    )


class Table:
    """The service table through an injected low-level DynamoDB client."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def put_new(self, item: Item) -> None:
        """Put an item that must not exist yet (conditional on ``attribute_not_exists(pk)``)."""
        self.client.put_item(
            TableName=self.name,
            Item=item,
            ConditionExpression=f"attribute_not_exists({PK})",
        )

    def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        item = response.get("Item")
        return item or None


def default_table() -> Table:
    """The table named by TABLE_NAME, through the process-wide DynamoDB client."""
    from steps.core.aws import client
    from steps.core.config import get_config

    return Table(client("dynamodb"), get_config().required_table_name)
