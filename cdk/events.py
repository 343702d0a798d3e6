"""Lifecycle events: the stack's EventBridge bus and the workflow states that publish to it.

Every event has source ``stepauth``, the event's name as ``detail-type`` and a versioned detail
``{version, user_id, request_id, time, ...}`` holding ids and facts an integrator needs, never a
password, hash, code, link token or refresh token. ``events/schemas/<Name>.json`` is the JSON
Schema of each detail; README's "Lifecycle events" table lists them.

Publishing is a direct ``events:putEvents`` Task. A failed publish never turns a served request
into an error: the Task's catch continues with the state's input unchanged (the lost event is
visible in the execution history and the ``FailedInvocations``/``PutEvents`` metrics).

A rule sends every stepauth event to the log group ``/aws/events/<stack>-events``: that is what
``stepauth events tail`` reads, on AWS and locally.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

SOURCE = "stepauth"
#: Version of every event's detail; bumped on a breaking change of a schema.
DETAIL_VERSION = "1"

#: The events stepauth publishes, with what each means.
EVENT_NAMES = {
    "UserRegistered": "An account was created (its email may still need verification).",
    "EmailVerified": "The account's email address was verified.",
    "EmailVerificationExpired": "A verification wait ended without a verification.",
    "PasswordChanged": "The user changed their password (signed in).",
    "PasswordReset": "The password was reset with an emailed code or link.",
    "EmailChanged": "The account's email address was replaced by a verified new one.",
    "UserDisabled": "An administrator disabled the account; its sessions were revoked.",
    "UserDeleted": "The user deleted their account.",
    "AccountLocked": "A login was refused by the lockout after repeated wrong passwords.",
    "RefreshTokenReuseDetected": "A spent refresh token was presented; its family was revoked.",
    "MfaEnabled": "The user confirmed a TOTP enrolment: sign-in now needs a second factor.",
    "MfaDisabled": "The user turned multi-factor sign-in off (with a code or the password).",
    "MfaReset": "An operator removed the account's multi-factor sign-in.",
}

_REQUEST_ID = "$$.Execution.Input.request.requestId"


class LifecycleEvents(Construct):
    """The bus ``<stack>-events`` and the rule that keeps every event in a log group."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stack_name: str, retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{stack_name}-events")
        self.log_group = logs.LogGroup(
            self,
            "EventLog",
            log_group_name=f"/aws/events/{stack_name}-events",
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # L1 rule and resource policy: the L2 log-group target installs a Lambda-backed custom
        # resource for the policy, which the stack does not need.
        keep = events.CfnRule(
            self,
            "KeepEvents",
            event_bus_name=self.bus.event_bus_name,
            description="Every stepauth lifecycle event, for `stepauth events tail`.",
            event_pattern={"source": [SOURCE]},
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(id="EventLog", arn=self.log_group.log_group_arn)
            ],
        )
        logs.CfnResourcePolicy(
            self,
            "EventLogPolicy",
            policy_name=f"{stack_name}-events-to-logs",
            policy_document=Stack.of(self).to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": self.log_group.log_group_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": keep.attr_arn}},
                        }
                    ],
                }
            ),
        )


def publish(
    scope: Construct,
    state_id: str,
    bus: events.IEventBus,
    name: str,
    *,
    user_id_path: str,
    facts: dict[str, str] | None = None,
    request_id_path: str = _REQUEST_ID,
) -> sfn.Chain:
    """A putEvents Task of the lifecycle event ``name``; the state's input passes on unchanged,
    and so it does when the publish fails.

    ``facts``: further detail fields, each a JSONPath of the state or a fixed text; they must be
    ids or facts, never a secret (the schemas in ``events/schemas`` say what each event holds).
    """
    if name not in EVENT_NAMES:
        raise ValueError(f"unknown lifecycle event {name}")
    detail: dict[str, object] = {
        "version": DETAIL_VERSION,
        "user_id": sfn.JsonPath.string_at(user_id_path),
        "request_id": sfn.JsonPath.string_at(request_id_path),
        "time": sfn.JsonPath.string_at("$$.State.EnteredTime"),
    }
    for key, value in (facts or {}).items():
        detail[key] = sfn.JsonPath.string_at(value) if value.startswith("$") else value
    put = tasks.EventBridgePutEvents(
        scope,
        state_id,
        comment=f"Lifecycle event {name}; a failed publish does not fail the request.",
        entries=[
            tasks.EventBridgePutEventsEntry(
                event_bus=bus,
                source=SOURCE,
                detail_type=name,
                detail=sfn.TaskInput.from_object(detail),
            )
        ],
        result_path=sfn.JsonPath.DISCARD,
    )
    published = sfn.Pass(scope, f"{state_id}Done")
    put.add_catch(published, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    return put.next(published)
