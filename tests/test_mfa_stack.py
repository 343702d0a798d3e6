"""The template of multi-factor sign-in: the KMS key, who may encrypt and decrypt with it, the
MFA workflows (EXPRESS, no execution data in their logs) and their routes, and the Login
workflow's branch after the password step."""

from __future__ import annotations

import json

from tests.test_lifecycle_stack import actions, function_role, machine, role_statements
from tests.test_stack import definition_of, rejection_status, resources

MFA_WORKFLOWS = ("MfaEnrol", "MfaConfirm", "MfaDisable", "MfaRecoveryCodes", "LoginMfa")


def _key_id(template: dict) -> str:
    (key_id,) = resources(template, "AWS::KMS::Key")
    return key_id


def test_one_rotating_kms_key_encrypts_the_totp_secrets(template: dict) -> None:
    key_id = _key_id(template)
    key = template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["UpdateReplacePolicy"] == "Retain"  # retain_data: the secrets stay readable
    functions = {
        f["Properties"]["FunctionName"]: f["Properties"]["Environment"]["Variables"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if "FunctionName" in f["Properties"]
    }
    for name in ("StartTotpEnrolment", "ConfirmTotp", "VerifySecondFactor", "VerifyMfaLogin"):
        assert functions[f"stepauth-{name}"]["MFA_KEY_ARN"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_only_the_steps_that_check_codes_may_decrypt_and_only_enrolment_encrypts(
    template: dict,
) -> None:
    key_arn = {"Fn::GetAtt": [_key_id(template), "Arn"]}
    kms_grants: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            listed = [listed] if isinstance(listed, str) else listed
            for action in listed:
                if action.startswith("kms:") or action == "*":
                    assert statement["Resource"] == key_arn, statement
                    for role in policy["Properties"]["Roles"]:
                        kms_grants.setdefault(action, set()).add(role["Ref"])

    def role_of(name: str) -> str:
        return function_role(template, name)["Fn::GetAtt"][0]

    assert set(kms_grants) == {"kms:Encrypt", "kms:Decrypt"}
    assert kms_grants["kms:Encrypt"] == {role_of("StartTotpEnrolment")}
    assert kms_grants["kms:Decrypt"] == {
        role_of("ConfirmTotp"),
        role_of("VerifySecondFactor"),
        role_of("VerifyMfaLogin"),
        role_of("CheckStepUp"),
    }


def test_mfa_steps_touch_the_table_only_as_their_code_does(template: dict) -> None:
    expected = {
        "StartTotpEnrolment": {"dynamodb:Query", "dynamodb:UpdateItem", "kms:Encrypt"},
        "ConfirmTotp": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "kms:Decrypt"},
        "ValidateMfaProof": {"dynamodb:Query"},
        "VerifySecondFactor": {
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "kms:Decrypt",
        },
        "ReplaceRecoveryCodes": {"dynamodb:UpdateItem"},
        "StartMfaChallenge": {"dynamodb:PutItem"},
        "ValidateMfaLogin": set(),
        "CheckStepUp": {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "kms:Decrypt",
        },
        "VerifyMfaLogin": {
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "kms:Decrypt",
        },
    }
    for name, wanted in expected.items():
        granted = actions(role_statements(template, function_role(template, name)))
        assert granted - {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} == wanted, name


def test_the_mfa_workflows_are_express_and_log_no_data(template: dict) -> None:
    for name in MFA_WORKFLOWS:
        _, resource = machine(template, name)
        properties = resource["Properties"]
        assert properties["StateMachineType"] == "EXPRESS"
        assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False
        definition = definition_of(resource)
        assert definition["StartAt"] == "BodyWithinLimit?"
        assert definition["TimeoutSeconds"] == 25
        # Audit states are named Audit…, and no client-error cause quotes a secret.
        text = json.dumps(definition)
        for needle in ("$.enrolment.secret", '$.answer.value"', 'mfa_token":'):
            assert needle not in text.replace("\\", "")


def test_the_mfa_routes(template: dict) -> None:
    methods = {
        (
            m["Properties"]["HttpMethod"],
            json.dumps(m["Properties"]["Integration"]["RequestTemplates"]),
        )
        for m in resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"].get("Integration", {}).get("RequestTemplates")
    }
    for http_method, name in (
        ("POST", "MfaEnrol"),
        ("POST", "MfaConfirm"),
        ("DELETE", "MfaDisable"),
        ("POST", "MfaRecoveryCodes"),
        ("POST", "LoginMfa"),
    ):
        logical_id, _ = machine(template, name)
        (found,) = [m for m in methods if m[0] == http_method and logical_id in m[1]]
        protected = name != "LoginMfa"
        assert ("$context.authorizer.principalId" in found[1]) is protected, name


def test_login_hands_out_a_challenge_instead_of_tokens_when_the_account_has_mfa(
    template: dict,
) -> None:
    _, login = machine(template, "Login")
    states = definition_of(login)["States"]
    choice = states["AccountState?"]
    assert [rule["Next"] for rule in choice["Choices"]] == [
        "AuditLoginLockedKnownAccount?",
        "StartMfaChallenge",
    ]
    assert choice["Choices"][1]["And"] == [
        {"Variable": "$.verified.mfa", "IsPresent": True},
        {"Variable": "$.verified.mfa", "BooleanEquals": True},
    ]
    assert choice["Default"] == "IssueTokens"
    challenge = states["StartMfaChallenge"]
    assert challenge["ResultPath"] == "$.challenge"
    assert states[challenge["Next"]]["Type"] == "Task"  # the audit record
    assert challenge["Next"] == "AuditLoginMfaRequired"
    assert states["RespondMfaRequired"]["Parameters"]["statusCode"] == 200


def test_login_mfa_answers_401_for_a_wrong_code_and_429_when_locked(template: dict) -> None:
    _, resource = machine(template, "LoginMfa")
    states = definition_of(resource)["States"]
    choice = states["SecondFactorAccepted?"]
    outcomes = {c["StringEquals"]: c["Next"] for c in choice["Choices"]}
    assert outcomes["accepted"] == "IssueTokens"
    assert outcomes["locked"].startswith("Audit") and choice["Default"].startswith("Audit")
    assert rejection_status(states, choice["Default"]) == 401
    catch = states["VerifyMfaLogin"]["Catch"][0]
    assert catch["ErrorEquals"] == ["MfaChallengeInvalid"]
    assert rejection_status(states, catch["Next"]) == 401


def test_credential_changes_need_a_recent_second_factor_first(template: dict) -> None:
    for name in ("ChangePassword", "ChangeEmail", "DeleteAccount"):
        _, resource = machine(template, name)
        states = definition_of(resource)["States"]
        assert states["BodyWithinLimit?"]["Default"] == "CheckStepUp", name
        catches = {c["ErrorEquals"][0]: c["Next"] for c in states["CheckStepUp"]["Catch"]}
        assert rejection_status(states, catches["SecondFactorRequired"]) == 403
        assert rejection_status(states, catches["MfaCodeRejected"]) == 401
        assert catches["MfaCodeRejected"].startswith("Audit")
        assert states["StepUpLocked?"]["Choices"][0]["Next"] == "AuditStepUpLocked"
    assert "CheckStepUp" not in json.dumps(definition_of(machine(template, "Login")[1]))


def test_a_password_change_continues_in_a_session_with_the_step_ups_second_factor(
    template: dict,
) -> None:
    """CheckStepUp's ``authentication`` goes through the validation (which replaces the state)
    and the state that drops the passwords, to IssueTokens: the new session's tokens carry
    the caller's amr, acr and auth_time (steps/core/mfa_step_up.py)."""
    _, resource = machine(template, "ChangePassword")
    states = definition_of(resource)["States"]
    assert states["CheckStepUp"]["ResultPath"] == "$.stepUp"
    assert "Parameters" not in states["ValidatePasswordChange"]  # it reads the whole state
    assert states["ForgetPasswords"]["Parameters"]["authentication.$"] == "$.authentication"
    payload = states["IssueTokens"]["Parameters"]
    assert payload["authentication.$"] == "$.authentication"


# -- mfa=required -----------------------------------------------------------------------------


def test_the_mfa_setting_defaults_to_optional_and_accepts_only_optional_or_required(
    template: dict,
) -> None:
    import pytest

    from cdk.config import StackConfig

    assert StackConfig().mfa == "optional"
    assert template["Outputs"]["MfaPolicy"]["Value"] == "optional"
    _, login = machine(template, "Login")
    assert "IssueEnrollmentToken" not in definition_of(login)["States"]
    StackConfig(mfa="required").validate()
    with pytest.raises(ValueError, match="mfa must be optional or required"):
        StackConfig(mfa="always").validate()


def test_the_enrollment_audience_is_its_own_and_reaches_every_function(template: dict) -> None:
    import pytest

    from cdk.config import StackConfig

    StackConfig(mfa_enrollment_audience="enrol.example").validate()
    for taken in ("stepauth-api", "hello-api"):
        clients = '[{"client_id": "hello", "audience": "hello-api"}]'
        with pytest.raises(ValueError, match="mfa_enrollment_audience"):
            StackConfig(clients=clients, mfa_enrollment_audience=taken).validate()
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and "TOKEN_AUDIENCE" in r["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert functions
    for function in functions:  # empty: <token_audience>:mfa-enroll (steps/core/config.py)
        assert function["Environment"]["Variables"]["MFA_ENROLLMENT_AUDIENCE"] == ""


def _issue_tokens_payloads(template: dict, workflow: str) -> dict:
    _, resource = machine(template, workflow)
    return definition_of(resource)["States"]["IssueTokens"]["Parameters"]


def test_mfa_required_gives_accounts_without_mfa_an_enrolment_token_not_a_session(
    stack_variants: dict,
) -> None:
    template = stack_variants["mfa-required"].require().template()
    assert template["Outputs"]["MfaPolicy"]["Value"] == "required"
    _, login = machine(template, "Login")
    states = definition_of(login)["States"]
    choice = states["AccountState?"]
    assert choice["Choices"][-1]["Next"] == "StartMfaChallenge"  # enrolled: the challenge
    assert choice["Default"] == "IssueEnrollmentToken"  # not enrolled: no session
    assert "IssueTokens" not in states
    enrol = states["IssueEnrollmentToken"]
    assert enrol["Parameters"]["purpose"] == "mfa_enrollment"
    assert enrol["Next"] == "AuditLoginMfaEnrollmentRequired"
    described = states["DescribeMfaEnrollmentRequired"]["Parameters"]
    assert described["error"] == "mfa_enrollment_required"
    assert states["RespondMfaEnrollmentRequired"]["Parameters"]["statusCode"] == 403
    # Registration (verification optional here) and email verification: no session either.
    for workflow in ("Register", "VerifyEmail"):
        assert _issue_tokens_payloads(template, workflow)["purpose"] == "mfa_enrollment"
    # Sign-in with a second factor issues the session as before.
    assert "purpose" not in _issue_tokens_payloads(template, "LoginMfa")
