"""The table's entities: one declaration per item kind of the service's one DynamoDB table.

Key templates are text with ``{field}`` placeholders, filled from the item's attributes or
from key fields given beside them (``Entity.item(attributes, token_hash=...)``). Attribute
types are DynamoDB's: ``S``, ``N``, ``BOOL``, ``SS`` (a string set) and ``L`` (here always a
list of strings).
``expires_at`` is the table's TTL attribute (epoch seconds); TTL deletes late (typically
within 48 hours), so every read that cares compares it with the time itself.

How to add an entity: see :mod:`steps.core.contract`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

PK = "pk"
SK = "sk"
GSI1_NAME = "gsi1"
GSI1PK = "gsi1pk"
GSI1SK = "gsi1sk"
#: The table's TTL attribute (epoch seconds). TTL deletes late: readers check expiry themselves.
TTL_ATTRIBUTE = "expires_at"
#: The attribute naming an item's entity (on every entity but the two bare counters).
ENTITY_ATTRIBUTE = "entity"

S, N, BOOL, L, SS = "S", "N", "BOOL", "L", "SS"
KEY_ATTRIBUTES = (PK, SK, GSI1PK, GSI1SK)

_FIELD = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class KeyTemplate:
    """``USER#{email}``: literal text and ``{field}`` placeholders."""

    text: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(_FIELD.findall(self.text))

    @property
    def prefix(self) -> str:
        """The literal text before the first field (the whole text when there is none)."""
        return _FIELD.split(self.text)[0]

    def parts(self) -> list[str]:
        """The literal pieces around the fields (one more than there are fields)."""
        return _FIELD.split(self.text)[0::2]

    def format(self, values: Mapping[str, Any]) -> str:
        missing = [name for name in self.fields if values.get(name) in (None, "")]
        if missing:
            raise ValueError(f"The key {self.text} needs {', '.join(missing)}.")
        return _FIELD.sub(lambda match: str(values[match.group(1)]), self.text)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        pieces = self.parts()
        regex = re.escape(pieces[0])
        for name, piece in zip(self.fields, pieces[1:], strict=True):
            regex += f"(?P<{name}>.+?)" + re.escape(piece)
        return re.compile(regex + r"\Z", re.DOTALL)

    def parse(self, value: str) -> dict[str, str] | None:
        found = self.pattern.match(value)
        return None if found is None else found.groupdict()


@dataclass(frozen=True)
class Entity:
    """One item kind: its keys, attributes (name → type), the required ones, and its TTL."""

    name: str
    pk: str
    sk: str
    attributes: Mapping[str, str]
    required: tuple[str, ...] = ()
    gsi1pk: str | None = None
    gsi1sk: str | None = None
    #: What ``expires_at`` holds ("" for an entity that never expires).
    ttl: str = ""
    #: Whether items carry ``entity: <name>`` (the counters do not).
    tagged: bool = True
    doc: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.required) - set(self.attributes)
        if unknown:
            raise ValueError(f"{self.name}: required but not declared: {sorted(unknown)}")
        if bool(self.ttl) != (TTL_ATTRIBUTE in self.attributes):
            raise ValueError(f"{self.name}: ttl and the {TTL_ATTRIBUTE} attribute go together.")

    def template(self, key: str) -> KeyTemplate | None:
        text = {PK: self.pk, SK: self.sk, GSI1PK: self.gsi1pk, GSI1SK: self.gsi1sk}[key]
        return None if text is None else KeyTemplate(text)

    def templates(self) -> dict[str, KeyTemplate]:
        """The key attributes this entity has, by name."""
        found = {name: self.template(name) for name in KEY_ATTRIBUTES}
        return {name: template for name, template in found.items() if template is not None}

    @property
    def key_fields(self) -> tuple[str, ...]:
        return tuple(f for t in self.templates().values() for f in t.fields)

    def key(self, **fields: Any) -> dict[str, str]:
        """The primary key (plain strings) from the key template fields."""
        return {PK: KeyTemplate(self.pk).format(fields), SK: KeyTemplate(self.sk).format(fields)}

    def item(self, attributes: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        """The whole item (plain values): keys, gsi1 keys, the entity tag and the attributes.

        Template fields come from ``fields``, else from the attribute of the same name.
        ValueError for an attribute the entity does not declare or a required one missing.
        """
        present = {name: value for name, value in attributes.items() if value is not None}
        self.check_attributes(present)
        values = {**present, **fields}
        item: dict[str, Any] = {
            name: template.format(values) for name, template in self.templates().items()
        }
        if self.tagged:
            item[ENTITY_ATTRIBUTE] = self.name
        item.update(present)
        return item

    def check_attributes(self, attributes: Iterable[str]) -> None:
        names = set(attributes)
        unknown = names - set(self.attributes)
        if unknown:
            raise ValueError(f"The {self.name} entity has no attribute {sorted(unknown)}.")
        missing = set(self.required) - names
        if missing:
            raise ValueError(f"A {self.name} item needs {sorted(missing)}.")

    def owns(self, pk: str, sk: str) -> bool:
        """Whether a primary key has this entity's shape."""
        return (
            KeyTemplate(self.pk).parse(pk) is not None
            and KeyTemplate(self.sk).parse(sk) is not None
        )

    def problems(self, item: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """What is wrong with a stored item (attribute-value JSON) of this entity."""
        found: list[str] = []
        for key, template in self.templates().items():
            value = item.get(key, {}).get("S")
            if value is None or template.parse(value) is None:
                found.append(f"{key} {value!r} does not fit {template.text}")
        if self.tagged and item.get(ENTITY_ATTRIBUTE) != {"S": self.name}:
            found.append(f"entity is {item.get(ENTITY_ATTRIBUTE)!r}, not {self.name}")
        attributes = {
            name: value
            for name, value in item.items()
            if name not in KEY_ATTRIBUTES and name != ENTITY_ATTRIBUTE
        }
        for name, value in attributes.items():
            wanted = self.attributes.get(name)
            if wanted is None:
                found.append(f"undeclared attribute {name}")
            elif set(value) != {wanted} or (
                wanted == L and not all(set(e) == {S} for e in value[L])
            ):
                found.append(f"{name} is {value!r}, declared {wanted}")
        missing = set(self.required) - set(attributes)
        if missing:
            found.append(f"missing {sorted(missing)}")
        return found


USER = Entity(
    "user",
    pk="USER#{email}",
    sk="PROFILE",
    gsi1pk="USERID#{user_id}",
    gsi1sk="PROFILE",
    attributes={
        "user_id": S,
        "email": S,
        "name": S,
        "password_hash": S,
        "roles": L,
        "status": S,  # "active" | "disabled"
        "created_at": S,  # ISO 8601
        "disabled_at": N,
        "email_verified": BOOL,  # absent: registered before verification existed
        "email_verified_at": N,
        "password_changed_at": N,
    },
    required=("user_id", "email", "name", "password_hash", "roles", "status", "created_at"),
    doc="an account, by its normalised email; gsi1 finds it by user id",
)
REFRESH_TOKEN = Entity(
    "refresh_token",
    pk="REFRESH#{token_hash}",
    sk="TOKEN",
    gsi1pk="USERID#{user_id}",
    gsi1sk="REFRESH#{family_id}#{issued_at}",
    attributes={
        "family_id": S,
        "user_id": S,
        "issued_at": N,
        "status": S,  # "active" | "spent"
        "spent_at": N,
        "expires_at": N,
        # The account's email, so that a refresh reads the family and the user in one call
        # (steps/core/refresh_rotation.py; absent on tokens stored before it).
        "email": S,
    },
    required=("family_id", "user_id", "issued_at", "status", "expires_at"),
    ttl="the family's absolute expiry (rotation never extends it)",
    doc="one refresh token, by the SHA-256 hex of the token (never the token)",
)
REFRESH_FAMILY = Entity(
    "refresh_family",
    pk="FAMILY#{family_id}",
    sk="FAMILY",
    gsi1pk="USERID#{user_id}",
    gsi1sk="FAMILY#{family_id}",
    attributes={
        "family_id": S,
        "user_id": S,
        "email": S,
        "status": S,  # "active" | "revoked"
        "revoked_reason": S,
        "revoked_at": N,
        "created_at": N,
        "last_used_at": N,
        "expires_at": N,
        "user_agent": S,
        "source_ip": S,
        "client_id": S,
        "scope": S,
        # The sign-in's second factor (RFC 8176 amr, OIDC acr and auth_time, which stays the
        # sign-in's time): every access token a refresh of the family issues carries them.
        "amr": L,
        "acr": S,
        "auth_time": N,
    },
    required=(
        "family_id",
        "user_id",
        "email",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
        "source_ip",
    ),
    ttl="created_at + the refresh TTL",
    doc="a session: the chain of rotated refresh tokens of one sign-in, with its grant",
)
DENIED_TOKEN = Entity(
    "denied_token",
    pk="DENY#{jti}",
    sk="JTI",
    attributes={"expires_at": N},
    required=("expires_at",),
    ttl="the access token's own exp",
    doc="an access token on the denylist (workflows Logout and DeleteAccount)",
)
TOKENS_VALID_AFTER = Entity(
    "tokens_valid_after",
    pk="VALIDAFTER#{user_id}",
    sk="TOKENS",
    attributes={"tokens_valid_after": N, "expires_at": N},
    required=("tokens_valid_after", "expires_at"),
    ttl="the marker + 7 days",
    doc="access tokens of the user issued before this moment are refused (only moves forward)",
)
SIGNING_KEYS = Entity(
    "signing_keys",
    pk="SIGNING_KEYS",
    sk="PUBLIC",
    attributes={"jwks": S, "updated_at": N},
    required=("jwks", "updated_at"),
    doc="the public JWK Set as JSON text (no private part): what the authorizer and JWKS read",
)
AUDIT = Entity(
    "audit",
    pk="AUDIT#{owner_kind}#{owner}",
    sk="{at_iso}#{unique}",
    gsi1pk="AUDIT#{day}",
    gsi1sk="{at_iso}#{action}#{outcome}",
    attributes={
        "action": S,
        "outcome": S,
        "at": N,
        "expires_at": N,
        "user_id": S,
        "email": S,
        "source_ip": S,
        "user_agent": S,
        "request_id": S,
        "execution_id": S,
        "detail": S,
    },
    required=("action", "outcome", "at", "expires_at"),
    ttl="at + the audit retention",
    doc=(
        "who did what, when, from where: owner USER#<user id> (anonymous when unknown) or "
        "EMAIL#<email> (no account); unique: a uuid, or the execution name in workflows"
    ),
)
RECEIPT = Entity(
    "receipt",
    pk="RECEIPT#{what}#{subject}",
    sk="RECEIPT",
    attributes={"expires_at": N},
    required=("expires_at",),
    ttl="written + 2 days",
    doc="a stream clean-up side effect already done: a redelivered record is a no-op",
)
LOCKOUT = Entity(
    "lockout",
    pk="LOCKOUT#{email}",
    sk="FAILURES",
    attributes={"failures": N, "last_failure_at": N, "expires_at": N},
    required=("failures", "last_failure_at", "expires_at"),
    ttl="last failure + reset + max lock",
    tagged=False,
    doc="failed logins of an email, known or not (one atomic ADD per failure)",
)
VERIFICATION = Entity(
    "verification",
    pk="VERIFY#{kind}#{user_id}",
    sk="PENDING",
    attributes={
        "kind": S,  # verify_email | reset_password | change_email
        "user_id": S,
        "email": S,
        "code_hash": S,  # keyed HMAC of the code
        "token_hash": S,  # SHA-256 of the link token
        "task_token": S,
        "execution_id": S,
        "attempts": N,
        "resends": N,
        "code_expires_at": N,
        "expires_at": N,
    },
    required=(
        "kind",
        "user_id",
        "email",
        "code_hash",
        "token_hash",
        "task_token",
        "execution_id",
        "attempts",
        "resends",
        "code_expires_at",
        "expires_at",
    ),
    ttl="code_expires_at + 1 day",
    doc="the pending emailed code of one flow of a user (hashes only)",
)
VERIFICATION_LINK = Entity(
    "verification_link",
    pk="VERIFYLINK#{token_hash}",
    sk="LINK",
    attributes={"kind": S, "user_id": S, "expires_at": N},
    required=("kind", "user_id", "expires_at"),
    ttl="the code's expiry",
    doc="an emailed link token (by its SHA-256) → the pending verification",
)
SEND_LIMIT = Entity(
    "send_limit",
    pk="MAILLIMIT#{email}",
    sk="{hour}",
    attributes={"sends": N, "expires_at": N},
    required=("sends", "expires_at"),
    ttl="the end of the next hour",
    tagged=False,
    doc="emails sent to one address in one epoch hour (one conditional ADD per send)",
)

MFA_TOTP = Entity(
    "mfa_totp",
    pk="MFA#{user_id}",
    sk="TOTP",
    attributes={
        "user_id": S,
        "status": S,  # "pending" | "active"
        "secret": S,  # base64 of the KMS ciphertext of the base32 secret
        "created_at": N,
        "enabled_at": N,
        "last_step": N,  # the last accepted TOTP time step (replay)
        "recovery_codes": SS,  # SHA-256 of each unused code
        "expires_at": N,
    },
    required=("user_id", "status", "secret", "created_at"),
    ttl="a pending enrolment only: started + 15 minutes",
    doc="a user's TOTP enrolment and recovery codes (secret encrypted, codes hashed)",
)
MFA_CHALLENGE = Entity(
    "mfa_challenge",
    pk="MFACHALLENGE#{token_hash}",
    sk="CHALLENGE",
    attributes={
        "user_id": S,
        "email": S,
        "user": S,  # JSON of the user the tokens will be issued to
        "client_id": S,
        "scope": S,
        "auth_time": N,
        "answers": N,
        "expires_at": N,
    },
    required=("user_id", "email", "user", "auth_time", "answers", "expires_at"),
    ttl="the password step + 5 minutes",
    doc="a sign-in waiting for its second factor, by the SHA-256 of its mfa_token",
)

ENTITIES: tuple[Entity, ...] = (
    USER,
    REFRESH_TOKEN,
    REFRESH_FAMILY,
    DENIED_TOKEN,
    TOKENS_VALID_AFTER,
    SIGNING_KEYS,
    AUDIT,
    RECEIPT,
    LOCKOUT,
    VERIFICATION,
    VERIFICATION_LINK,
    SEND_LIMIT,
    MFA_TOTP,
    MFA_CHALLENGE,
)
BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}


def entity_of(pk: str, sk: str) -> Entity | None:
    """The entity whose key templates a primary key fits (None: no entity of the contract)."""
    for entity in ENTITIES:
        if entity.owns(pk, sk):
            return entity
    return None


def problems(item: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What is wrong with a stored item against the contract ([] when it fits)."""
    pk, sk = item.get(PK, {}).get("S", ""), item.get(SK, {}).get("S", "")
    entity = entity_of(pk, sk)
    if entity is None:
        return [f"no entity has the key {pk!r} / {sk!r}"]
    return [f"{entity.name}: {problem}" for problem in entity.problems(item)]


def layout_markdown() -> str:
    """README's data layout table, generated (a test compares README with it)."""
    rows = [
        "| entity | pk | sk | gsi1pk / gsi1sk | expires_at (TTL) | attributes |",
        "|---|---|---|---|---|---|",
    ]
    for entity in ENTITIES:
        gsi = f"`{entity.gsi1pk}` / `{entity.gsi1sk}`" if entity.gsi1pk else "-"
        attributes = ", ".join(
            f"{name}{'' if name in entity.required else '?'} {kind}"
            for name, kind in entity.attributes.items()
            if name != TTL_ATTRIBUTE
        )
        name = entity.name if entity.tagged else f"{entity.name} (untagged)"
        rows.append(
            f"| {name} | `{entity.pk}` | `{entity.sk}` | {gsi} | {entity.ttl or '-'} "
            f"| {attributes or '-'} |"
        )
    return "\n".join(rows)
