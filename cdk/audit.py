"""Audit records written by the workflows themselves: one DynamoDB ``putItem`` per outcome.

Each outcome path of a workflow (a login that succeeded, failed or was refused by the lockout, a
registration, a refresh, a logout …) passes through one audit state before it answers, so the
record is visible in the workflow and costs one direct service call, no Lambda. The item has the
layout of the contract's ``audit`` entity (``steps/core/contract/entities.py``):

* ``pk``: ``AUDIT#USER#<user id>`` when the account is known, ``AUDIT#EMAIL#<normalised email>``
  when it is not (a failed login for an unknown email, a registration for a taken one), and
  ``AUDIT#USER#anonymous`` when the request names nobody (an unknown refresh token).
* ``sk``: ``<execution start, ISO 8601 UTC with ms>#<execution name>``; the name is the API
  request id, unique per request, and each execution writes one record.
* ``gsi1pk`` / ``gsi1sk``: ``AUDIT#<yyyy-mm-dd>`` / ``<iso>#<action>#<outcome>``: the records of
  a day, in time order, without a scan.
* ``at`` and ``expires_at`` (the TTL): epoch seconds. ASL has no clock arithmetic, so the API's
  request template computes both from ``$context.requestTimeEpoch`` and the configured retention
  and hands them over in the execution input (``request.receivedAt``, ``request.auditExpiresAt``).

The caller's network facts come from the execution input too (``$$.Execution.Input.request``):
source IP, user agent and request id, exactly as API Gateway saw them. Never a password, a hash
or a token: no audit state reads the request body or a step's result other than ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.audit import ANONYMOUS, OWNER_EMAIL, OWNER_USER
from steps.core.contract.entities import AUDIT

from .items import Fixed, Value, state_item

_START = "$$.Execution.StartTime"
_REQUEST = "$$.Execution.Input.request"


@dataclass(frozen=True)
class AuditOwner:
    """Whose history a record belongs to: a user id, a normalised email, or nobody."""

    partition: str  # OWNER_USER or OWNER_EMAIL
    path: str | None  # JSONPath of the id or email in the state; None: anonymous
    attribute: str  # the item attribute that repeats it ("user_id" or "email")

    @classmethod
    def user(cls, path: str) -> AuditOwner:
        return cls(OWNER_USER, path, "user_id")

    @classmethod
    def email(cls, path: str) -> AuditOwner:
        return cls(OWNER_EMAIL, path, "email")

    @classmethod
    def anonymous(cls) -> AuditOwner:
        return cls(OWNER_USER, None, "user_id")

    def value(self) -> Value:
        return Fixed(ANONYMOUS) if self.path is None else self.path


class AuditTrail:
    """Builds the audit states of one workflow (each state id is unique in its workflow)."""

    def __init__(self, scope: Construct, table: dynamodb.ITable) -> None:
        self._scope = scope
        self._table = table

    def record(
        self,
        state_id: str,
        *,
        action: str,
        outcome: str,
        owner: AuditOwner,
        detail: str | None = None,
    ) -> tasks.DynamoPutItem:
        """A putItem of one audit record; the state passes its input on unchanged.

        ``detail`` is a fixed text or a ``JsonPath.format`` of ids (never client text).
        """
        day = sfn.JsonPath.array_get_item(
            sfn.JsonPath.string_split(sfn.JsonPath.string_at(_START), "T"), 0
        )
        attributes: dict[str, Value] = {
            "action": Fixed(action),
            "outcome": Fixed(outcome),
            "at": f"{_REQUEST}.receivedAt",
            "expires_at": f"{_REQUEST}.auditExpiresAt",
            "source_ip": f"{_REQUEST}.sourceIp",
            "user_agent": f"{_REQUEST}.userAgent",
            "request_id": f"{_REQUEST}.requestId",
            "execution_id": "$$.Execution.Id",
            owner.attribute: owner.value(),
        }
        if detail is not None:
            attributes["detail"] = detail if detail.startswith("$") else Fixed(detail)
        item = state_item(
            AUDIT,
            attributes,
            owner_kind=Fixed(owner.partition),
            owner=owner.value(),
            at_iso=_START,
            unique="$$.Execution.Name",
            day=day,
        )
        return tasks.DynamoPutItem(
            self._scope,
            state_id,
            comment=f"Audit record: {action} {outcome}.",
            table=self._table,
            item=item,
            result_path=sfn.JsonPath.DISCARD,
        )

    def by_account(
        self,
        state_id: str,
        *,
        action: str,
        outcome: str,
        found_path: str,
        user_id_path: str,
        email_path: str,
        then: sfn.IChainable,
    ) -> sfn.Choice:
        """The record under the user id when ``found_path`` (a getItem's Item) exists, else
        under the email; both continue with ``then``."""
        known = self.record(
            f"{state_id}ForUser",
            action=action,
            outcome=outcome,
            owner=AuditOwner.user(user_id_path),
        )
        unknown = self.record(
            f"{state_id}ForEmail",
            action=action,
            outcome=outcome,
            owner=AuditOwner.email(email_path),
        )
        known.next(then)
        unknown.next(then)
        return (
            sfn.Choice(self._scope, f"{state_id}KnownAccount?")
            .when(sfn.Condition.is_present(found_path), known)
            .otherwise(unknown)
        )
