"""The template of the account lifecycle: bus, rules, the STANDARD verification workflow, its
callbacks, and the IAM of each (only the actions they use), under the default configuration."""

from __future__ import annotations

from typing import Any

import pytest

from tests.synthesis import Synthesis
from tests.test_stack import definition_of, resources, state_machines


@pytest.fixture(scope="module")
def default_template(stack_variants: dict[str, Synthesis]) -> dict:
    """The default configuration (email_verification=required), keep on timeout."""
    return stack_variants["lifecycle-default"].require().template()


def machine(template: dict, name: str) -> tuple[str, dict]:
    [(logical_id, resource)] = [
        (k, v)
        for k, v in state_machines(template).items()
        if v["Properties"]["StateMachineName"] == f"stepauth-{name}"
    ]
    return logical_id, resource


def role_statements(template: dict, role: dict) -> list[dict[str, Any]]:
    role_id = role["Fn::GetAtt"][0] if "Fn::GetAtt" in role else role["Ref"]
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        listed = statement["Action"]
        found |= {listed} if isinstance(listed, str) else set(listed)
    return found


def function_role(template: dict, name: str) -> dict:
    [function] = [
        f
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == f"stepauth-{name}"
    ]
    return function["Properties"]["Role"]


def test_the_bus_and_its_rules(default_template: dict) -> None:
    [bus] = resources(default_template, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "stepauth-events"
    rules = resources(default_template, "AWS::Events::Rule").values()
    patterns = {json_key(r["Properties"]["EventPattern"]): r for r in rules}
    keep = patterns["source=stepauth"]
    assert "LifecycleEventsEventLog" in keep["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    verify = patterns["detail-type=UserRegistered;source=stepauth"]
    [target] = verify["Properties"]["Targets"]
    assert "StartVerification" in target["Arn"]["Fn::GetAtt"][0]


def json_key(pattern: dict) -> str:
    return ";".join(f"{k}={','.join(v)}" for k, v in sorted(pattern.items()))


def test_email_verification_is_standard_waits_with_a_timeout_and_logs_no_data(
    default_template: dict,
) -> None:
    _, resource = machine(default_template, "EmailVerification")
    properties = resource["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False
    states = definition_of(resource)["States"]
    wait = states["SendCodeAndWait"]
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["TimeoutSecondsPath"] == "$.timeout_seconds"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert set(wait["Parameters"]["Payload"]) == {
        "kind",
        "user_id.$",
        "email.$",
        "task_token.$",
        "execution_id.$",
    }
    # The time-out ends the wait; any other failure ends the execution (cdk/resilience.py).
    assert [c["ErrorEquals"] for c in wait["Catch"]] == [["States.Timeout"], ["States.ALL"]]
    assert "RemoveUnverifiedAccount" not in states  # keep is the default


def test_the_verification_workflow_may_only_send_publish_and_forget(
    default_template: dict,
) -> None:
    _, resource = machine(default_template, "EmailVerification")
    statements = role_statements(default_template, resource["Properties"]["RoleArn"])
    assert actions(statements) <= {
        "lambda:InvokeFunction",
        "events:PutEvents",
        "dynamodb:DeleteItem",
        "logs:CreateLogDelivery",
        "logs:CreateLogStream",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutLogEvents",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
    assert {"lambda:InvokeFunction", "events:PutEvents", "dynamodb:DeleteItem"} <= actions(
        statements
    )


def test_only_the_mail_step_sends_email_from_the_sender_identity(default_template: dict) -> None:
    senders = []
    for policy in resources(default_template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "ses:SendEmail" in actions([statement]):
                senders.append(policy["Properties"]["Roles"])
                assert actions([statement]) == {"ses:SendEmail"}
                text = str(statement["Resource"])
                assert "identity/stepauth.example.com" in text
                assert "identity/no-reply@stepauth.example.com" in text
    assert senders == [[{"Ref": function_role(default_template, "SendEmail")["Fn::GetAtt"][0]}]]


def test_the_starter_may_only_start_the_verification_workflow(default_template: dict) -> None:
    logical_id, _ = machine(default_template, "EmailVerification")
    statements = role_statements(
        default_template, function_role(default_template, "StartVerification")
    )
    starts = [s for s in statements if "states:StartExecution" in actions([s])]
    assert starts and all(s["Resource"] == {"Ref": logical_id} for s in starts)
    assert actions(statements) <= {
        "states:StartExecution",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_verify_completes_the_wait_and_register_answers_without_tokens(
    default_template: dict,
) -> None:
    _, verify = machine(default_template, "VerifyEmail")
    assert verify["Properties"]["StateMachineType"] == "EXPRESS"
    states = definition_of(verify)["States"]
    assert states["CompleteWait"]["Resource"].endswith(":states:::aws-sdk:sfn:sendTaskSuccess")
    # The code is checked, then spent with the session and the verified flag (one commit), and
    # only then is the wait completed.
    assert states["CheckCode"]["Next"] == "IssueTokens"
    assert states["IssueTokens"]["Next"] == "CompleteWait"
    assert states["IssueTokens"]["Parameters"]["verification"] == {
        "kind": "verify_email",
        "task_token.$": "$.task_token",
    }
    _, register = machine(default_template, "Register")
    register_states = definition_of(register)["States"]
    assert "IssueTokens" not in register_states
    assert register_states["UnverifiedUser"]["Parameters"]["user"]["email_verified"] is False
    _, login = machine(default_template, "Login")
    login_states = definition_of(login)["States"]
    # Locked first (a 429 even for the right password), then unverified, then tokens.
    rules = login_states["AccountState?"]["Choices"]
    assert [rule["Next"] for rule in rules][:2] == [
        "AuditLoginLockedKnownAccount?",
        "AuditLoginUnverified",
    ]
    assert rules[1]["And"][1] == {
        "Variable": "$.found.Item.email_verified.BOOL",
        "BooleanEquals": False,
    }


def test_off_has_no_verification_rule_and_register_issues_tokens(template: dict) -> None:
    """The shared test stack is synthesized with email_verification=off."""
    rules = resources(template, "AWS::Events::Rule").values()
    assert all("detail-type" not in r["Properties"]["EventPattern"] for r in rules)
    register = next(
        v
        for v in state_machines(template).values()
        if v["Properties"]["StateMachineName"] == "stepauth-Register"
    )
    assert "IssueTokens" in definition_of(register)["States"]


def test_remove_on_timeout_deletes_only_a_still_unverified_account(
    stack_variants: dict[str, Synthesis],
) -> None:
    template = stack_variants["lifecycle-remove-on-timeout"].require().template()
    _, resource = machine(template, "EmailVerification")
    remove = definition_of(resource)["States"]["RemoveUnverifiedAccount"]
    assert remove["Parameters"]["ConditionExpression"] == "user_id = :uid AND email_verified = :no"
