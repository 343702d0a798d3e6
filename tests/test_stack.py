"""The synthesized template: what would be deployed to AWS."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from aws_cdk import aws_apigateway as apigw

from localcloud.deploy import CloudAssembly
from tests.synthesis import Synthesis

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def state_machines(template: dict) -> dict[str, dict]:
    return resources(template, "AWS::StepFunctions::StateMachine")


def _stand_in(token: dict) -> str:
    """A deploy-time value as it would look after deployment."""
    if token == {"Ref": "AWS::Partition"}:
        return "aws"
    if token == {"Ref": "AWS::Region"}:
        return "us-east-1"
    if token == {"Ref": "AWS::AccountId"}:
        return "123456789012"
    if "Fn::GetAtt" in token:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{token['Fn::GetAtt'][0]}"
    return str(token.get("Ref", "unknown"))


def definition_of(state_machine: dict) -> dict:
    """CDK emits DefinitionString as an Fn::Join of text and deploy-time tokens."""
    definition = state_machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        parts = definition["Fn::Join"][1]
        definition = "".join(p if isinstance(p, str) else _stand_in(p) for p in parts)
    return json.loads(definition)


def rejection_status(states: dict, name: str) -> int:
    """The HTTP status a rejection path ends in: its Fail state's cause is the response."""
    seen = set()
    while states[name]["Type"] != "Fail":
        assert name not in seen, f"the path from {name} loops"
        seen.add(name)
        state = states[name]
        name = state["Next"] if "Next" in state else state["Default"]
    fail = states[name]
    assert fail["Error"] == "stepauth.ClientError"
    return json.loads(fail["Cause"])["statusCode"]


def after_audit(states: dict, name: str) -> str:
    """The first state from ``name`` on that is not an audit record (a putItem of AUDIT#…) or
    a lifecycle event (a putEvents Task and its Pass)."""
    while "AUDIT#" in json.dumps(
        states[name].get("Parameters", {}).get("Item", {})
    ) or name.startswith("Publish"):
        name = states[name]["Next"]
    return name


def test_table_is_on_demand_with_pitr_ttl_and_stream(template: dict) -> None:
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {k["AttributeName"] for k in props["KeySchema"]} == {"pk", "sk"}
    assert table["DeletionPolicy"] == "Retain"


def test_register_and_login_are_express_logged_without_data_and_traced(template: dict) -> None:
    machines = state_machines(template)
    names = {m["Properties"]["StateMachineName"] for m in machines.values()}
    assert names == {
        f"stepauth-{n}"
        for n in (
            "Register",
            "Login",
            "Refresh",
            "Logout",
            "DisableUser",
            "DeleteAccount",
            "ListSessions",
            "EndSession",
            "VerifyEmail",
            "ResendVerification",
            "EmailVerification",
            "ForgotPassword",
            "ResetPassword",
            "PasswordRecovery",
            "ChangePassword",
            "EmailChange",
            "ChangeEmail",
            "ConfirmEmailChange",
            "MfaEnrol",
            "MfaConfirm",
            "MfaDisable",
            "MfaRecoveryCodes",
            "LoginMfa",
        )
    }
    for machine in machines.values():
        props = machine["Properties"]
        # The one that waits for a person is STANDARD (tests/test_lifecycle_stack.py).
        standard = props["StateMachineName"] in (
            "stepauth-EmailVerification",
            "stepauth-PasswordRecovery",
            "stepauth-EmailChange",
        )
        assert props["StateMachineType"] == ("STANDARD" if standard else "EXPRESS")
        logging = props["LoggingConfiguration"]
        assert logging["Level"] == "ALL"
        # The input carries the password: execution data must never be logged.
        assert logging["IncludeExecutionData"] is False
        assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
        assert props["TracingConfiguration"] == {"Enabled": True}


def test_lambdas_are_python_312_with_tracing(template: dict) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert {
        "steps.validate_registration.handler",
        "steps.validate_login.handler",
        "steps.hash_password.handler",
        "steps.verify_password.handler",
        "steps.issue_tokens.handler",
        "steps.publish_jwks.handler",
    } <= handlers
    for function in functions.values():
        assert function["Properties"]["Runtime"] == "python3.12"
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_register_stores_user_with_a_conditional_put(template: dict) -> None:
    machines = state_machines(template)
    register = next(
        m for m in machines.values() if m["Properties"]["StateMachineName"].endswith("Register")
    )
    states = definition_of(register)["States"]
    store = states["StoreUser"]
    assert store["Resource"].endswith(":states:::dynamodb:putItem")
    assert store["Parameters"]["ConditionExpression"] == "attribute_not_exists(pk)"
    catch = store["Catch"][0]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert rejection_status(states, catch["Next"]) == 409
    # The state after hashing no longer carries the plain password.
    assert "password" not in json.dumps(states["BuildAccount"]["Parameters"]).replace(
        "password_hash", ""
    )


def test_login_fetches_the_user_with_a_direct_get_item(template: dict) -> None:
    machines = state_machines(template)
    login = next(
        m for m in machines.values() if m["Properties"]["StateMachineName"].endswith("Login")
    )
    states = definition_of(login)["States"]
    assert states["FindUser"]["Resource"].endswith(":states:::dynamodb:getItem")
    assert states["FindUser"]["Parameters"]["ConsistentRead"] is True
    verify_catch = states["VerifyPassword"]["Catch"][0]
    assert verify_catch["ErrorEquals"] == ["InvalidCredentials"]
    assert rejection_status(states, verify_catch["Next"]) == 401


def _methods(template: dict) -> list[dict]:
    return [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()]


def test_public_routes_start_sync_executions_with_vtl(template: dict) -> None:
    sync_methods = [
        m
        for m in _methods(template)
        if m["Integration"]["Type"] == "AWS" and "StartSyncExecution" in json.dumps(m)
    ]
    # 8 sign-in and session routes, 7 of the account lifecycle (tests/test_lifecycle_stack.py),
    # 5 of multi-factor sign-in (tests/test_mfa_stack.py)
    assert len(sync_methods) == 20
    for method in sync_methods:
        integration = method["Integration"]
        assert method["HttpMethod"] in ("POST", "DELETE", "GET")
        uri = json.dumps(integration["Uri"])
        assert ":states:action/StartSyncExecution" in uri
        request = json.dumps(integration["RequestTemplates"]["application/json"])
        for needle in (
            "$util.escapeJavaScript($input.body)",
            "$context.identity.sourceIp",
            "$context.identity.userAgent",
            "$context.extendedRequestId",
        ):
            assert needle in request
        # The client can choose $context.requestId: nothing may use it.
        assert "$context.requestId" not in request
        assert integration["PassthroughBehavior"] == "NEVER"
        # The body reaches the template as the base64 of its bytes.
        assert integration["ContentHandling"] == "CONVERT_TO_TEXT"
        response = integration["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
        assert "$context.responseOverride.status" in response
        assert "$util.parseJson($input.path('$.output'))" in response


def test_every_body_is_binary_to_api_gateway(template: dict) -> None:
    (api,) = resources(template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["*/*"]


def test_every_gateway_response_type_answers_in_the_contract_shape(template: dict) -> None:
    answered = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    every_type = {
        name
        for name in dir(apigw.ResponseType)
        if name.isupper() and isinstance(getattr(apigw.ResponseType, name), apigw.ResponseType)
    }
    assert {getattr(apigw.ResponseType, n).response_type for n in every_type} == set(answered)
    for response_type, properties in answered.items():
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert set(body) == {"error", "error_description"}, response_type
        if properties.get("StatusCode") == "401":
            challenge = properties["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"]
            assert challenge.startswith("'Bearer")


def test_jwks_route_is_a_lambda_proxy(template: dict) -> None:
    (jwks,) = [m for m in _methods(template) if m["Integration"]["Type"] == "AWS_PROXY"]
    assert jwks["HttpMethod"] == "GET" and jwks["AuthorizationType"] == "NONE"


def test_gateway_errors_use_the_contract_shape(template: dict) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    for response in responses.values():
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert set(body) == {"error", "error_description"}


def test_outputs_name_the_endpoints(template: dict) -> None:
    assert {
        "ApiUrl",
        "JwksUrl",
        "TableName",
        "RegisterStateMachineArn",
        "LoginStateMachineArn",
        "RefreshStateMachineArn",
        "LogoutStateMachineArn",
        "DisableUserStateMachineArn",
        "DeleteAccountStateMachineArn",
        "SigningKeysSecretArn",
        "LoginWorkflowLogGroup",
        "RegisterWorkflowLogGroup",
    } <= set(template["Outputs"])


def test_assertions_library_agrees(cloud_assembly: CloudAssembly) -> None:
    """The same facts through aws_cdk.assertions, as a CDK user would write them."""
    from aws_cdk.assertions import Match, Template

    assertions = Template.from_json(cloud_assembly.template())
    assertions.resource_count_is("AWS::StepFunctions::StateMachine", 23)
    assertions.all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {"LoggingConfiguration": Match.object_like({"IncludeExecutionData": False})},
    )
    # Only the three that wait for a person are STANDARD.
    standard = assertions.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineType": "STANDARD"}}
    )
    assert len(standard) == 3


def test_cfn_lint_passes(cloud_assembly: CloudAssembly) -> None:
    result = subprocess.run(
        [
            str(PROJECT_ROOT / ".venv" / "bin" / "cfn-lint"),
            "--config-file",
            str(PROJECT_ROOT / ".cfnlintrc.yaml"),
            str(cloud_assembly.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def asl_validator_verdicts(definitions: dict[str, dict], folder: Path) -> dict[str, bool]:
    """Whether asl-validator finds each definition valid, from one launch of it for all.

    ``--json-path`` (not ``--json-definition``, whose exit code is the last definition's only)
    and every definition's own verdict line are read, so one invalid definition among valid
    ones cannot pass unseen.
    """
    validator = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists(), "run `make setup` (npm ci installs asl-validator)"
    paths = {}
    for name, definition in definitions.items():
        paths[name] = folder / f"{name}.asl.json"
        paths[name].write_text(json.dumps(definition))
    arguments = [a for path in paths.values() for a in ("--json-path", str(path))]
    result = subprocess.run(
        [str(validator), *arguments], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    verdicts = {
        name: f'✓ State machine definition "{path}" is valid' in output
        for name, path in paths.items()
    }
    assert (result.returncode == 0) == all(verdicts.values()), output
    return verdicts


def test_every_state_machine_definition_is_valid_asl(template: dict, tmp_path: Path) -> None:
    """cfn-lint does not look into CDK's DefinitionString: validate the extracted ASL."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definitions = {
        machine["Properties"]["StateMachineName"]: definition_of(machine)
        for machine in state_machines(template).values()
    }
    verdicts = asl_validator_verdicts(definitions, tmp_path)
    assert all(verdicts.values()), [name for name, valid in verdicts.items() if not valid]
    for definition in definitions.values():
        text = json.dumps(definition)
        AmazonStateLanguageParser.parse(text)  # the interpreter that runs it locally
        # Every Next (and Choice Default) names an existing state; every state is reachable.
        states = definition["States"]
        targets = set(re.findall(r'"(?:Next|Default)": "([^"]+)"', text)) | {definition["StartAt"]}
        assert targets <= set(states)
        assert set(states) <= targets


def test_asl_validator_rejects_a_broken_definition_among_valid_ones(tmp_path: Path) -> None:
    valid = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    broken = {"StartAt": "Missing", "States": {"A": {"Type": "Pass", "End": True}}}
    verdicts = asl_validator_verdicts({"first": valid, "broken": broken, "last": valid}, tmp_path)
    assert verdicts == {"first": True, "broken": False, "last": True}


@pytest.mark.parametrize("name", ["x", "other-stack"])
def test_stack_name_prefixes_resources(name: str, stack_variants: dict[str, Synthesis]) -> None:
    template = stack_variants[f"stack-{name}"].require().template()
    names = [m["Properties"]["StateMachineName"] for m in state_machines(template).values()]
    assert all(n.startswith(f"{name}-") for n in names)
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["TableName"] == f"{name}-table"
    # Without the local context, the authorizer cache keeps the deployed default bound, and
    # the stack says which (make test-api reads it).
    (authorizer,) = resources(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 60
    assert template["Outputs"]["AuthorizerCacheTtlSeconds"]["Value"] == "60"


def _machine(template: dict, name: str) -> dict:
    return next(
        m
        for m in state_machines(template).values()
        if m["Properties"]["StateMachineName"].endswith(f"-{name}")
    )


def _route(template: dict, method: str, fragment: str) -> dict:
    found = [
        m
        for k, m in resources(template, "AWS::ApiGateway::Method").items()
        if m["Properties"]["HttpMethod"] == method and fragment in k
    ]
    assert len(found) == 1, fragment
    return found[0]["Properties"]


def test_protected_routes_use_the_token_authorizer(template: dict) -> None:
    (authorizer,) = resources(template, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 0  # the local context
    for method, fragment in (("POST", "logout"), ("GET", "v1me"), ("POST", "disable")):
        assert _route(template, method, fragment)["AuthorizationType"] == "CUSTOM"
    for method, fragment in (
        ("POST", "register"),
        ("POST", "v1loginPOST"),
        ("POST", "v1loginmfa"),
        ("POST", "refresh"),
    ):
        assert _route(template, method, fragment)["AuthorizationType"] == "NONE"


def test_me_is_a_direct_dynamodb_query(template: dict) -> None:
    integration = _route(template, "GET", "v1me")["Integration"]
    assert integration["Type"] == "AWS"
    assert ":dynamodb:action/Query" in json.dumps(integration["Uri"])
    request = json.dumps(integration["RequestTemplates"]["application/json"])
    assert "$context.authorizer.principalId" in request
    response = integration["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
    assert "password_hash" not in response


def test_refresh_catches_every_invalid_grant_into_one_400(template: dict) -> None:
    states = definition_of(_machine(template, "Refresh"))["States"]
    catch = states["RotateRefreshToken"]["Catch"][0]
    assert set(catch["ErrorEquals"]) == {"InvalidGrant", "RefreshTokenReused"}
    assert rejection_status(states, catch["Next"]) == 400


def test_a_detected_reuse_is_published_then_answered_invalid_grant(template: dict) -> None:
    states = definition_of(_machine(template, "Refresh"))["States"]
    assert states["RotateRefreshToken"]["Next"] == "ReuseDetected?"
    (reused,) = states["ReuseDetected?"]["Choices"]
    assert reused == {"Variable": "$.reuse", "IsPresent": True, "Next": reused["Next"]}
    publish = states[reused["Next"]]
    assert publish["Resource"].endswith(":states:::events:putEvents")
    (entry,) = publish["Parameters"]["Entries"]
    assert entry["DetailType"] == "RefreshTokenReuseDetected"
    assert entry["Detail"]["user_id.$"] == "$.reuse.user_id"
    assert entry["Detail"]["session_id.$"] == "$.reuse.session_id"
    # A lost event (its catch) and a published one end in the same 400.
    (lost,) = publish["Catch"]
    assert states[lost["Next"]]["Next"] == states[publish["Next"]]["Next"] == "RejectInvalidGrant"
    assert rejection_status(states, "RejectInvalidGrant") == 400


def test_user_registered_is_published_only_after_the_tokens(template: dict) -> None:
    """IssueTokens' compensation takes the account back: nothing may announce it before."""
    states = definition_of(_machine(template, "Register"))["States"]
    assert states["IssueTokens"]["Next"] == "PublishUserRegistered"
    assert states["PublishUserRegistered"]["Parameters"]["Entries"][0]["Detail"]["user_id.$"] == (
        "$.user.id"
    )
    assert states["UndoStoreUser"]["Next"] == "ServiceUnavailable"


def test_registration_hands_the_stored_verification_state_to_the_token(
    template: dict, stack_variants: dict[str, Synthesis]
) -> None:
    """Under ``optional`` the account is stored unverified and its first access token says so
    (``email_verified: false``); under ``off`` nothing is stored and no claim is made."""

    def token_user(template: dict) -> dict:
        states = definition_of(_machine(template, "Register"))["States"]
        return states["IssueTokens"]["Parameters"]["user"]

    assert "email_verified" not in token_user(template)  # the test stack: off
    optional = stack_variants["stack-other-stack"].require().template()
    assert token_user(optional)["email_verified"] is False


def test_logout_denies_the_access_token_until_it_expires(template: dict) -> None:
    states = definition_of(_machine(template, "Logout"))["States"]
    deny = states["DenyAccessToken"]
    assert deny["Resource"].endswith(":states:::dynamodb:putItem")
    item = deny["Parameters"]["Item"]
    assert item["pk"]["S.$"] == "States.Format('DENY#{}', $.caller.jti)"
    assert "expires_at" in item
    assert states[deny["Next"]]["Parameters"]["statusCode"] == 204


def _secret_readers(template: dict, secret_id: str) -> list[str]:
    readers = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        document = json.dumps(policy["Properties"]["PolicyDocument"])
        if "secretsmanager:GetSecretValue" in document and secret_id in document:
            readers += [r["Ref"] for r in policy["Properties"]["Roles"]]
    return sorted(readers)


def _secret_named(template: dict, suffix: str) -> str:
    (secret_id,) = [
        logical_id
        for logical_id, secret in resources(template, "AWS::SecretsManager::Secret").items()
        if secret["Properties"]["Name"].endswith(suffix)
    ]
    return secret_id


def test_only_the_token_issuers_read_the_private_keys(template: dict) -> None:
    """... and the deploy-time initialiser that writes the first key set."""
    readers = _secret_readers(template, _secret_named(template, "/signing-keys"))
    assert sorted(r.split("ServiceRole")[0] for r in readers) == [
        "InitSigningKeys",
        "IssueTokens",
        "RotateRefreshToken",
    ]


def test_only_the_refresh_step_reads_the_refresh_key(template: dict) -> None:
    secret_id = _secret_named(template, "/refresh-token-key")
    generated = resources(template, "AWS::SecretsManager::Secret")[secret_id]["Properties"]
    assert generated["GenerateSecretString"]["PasswordLength"] >= 32
    readers = _secret_readers(template, secret_id)
    assert len(readers) == 1 and readers[0].startswith("RotateRefreshTokenServiceRole")


def test_the_deploy_writes_the_first_signing_keys(template: dict) -> None:
    (ready,) = resources(template, "Custom::SigningKeys").values()
    function_id = ready["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    function = template["Resources"][function_id]
    assert function["Properties"]["Handler"] == "steps.init_signing_keys.handler"
    # Invoked only once its role, policy and log group exist.
    assert any(d.startswith("InitSigningKeysLogs") for d in ready["DependsOn"])
    assert any(d.startswith("InitSigningKeysServiceRole") for d in ready["DependsOn"])
    secret_id = _secret_named(template, "/signing-keys")
    assert ready["Properties"]["SecretArn"] == {"Ref": secret_id}


def test_each_function_bundles_only_what_its_handler_imports() -> None:
    """The asset's requirement set covers the handler's third-party imports and no more."""
    import subprocess
    import sys

    from cdk.bundling import (
        PASSWORD_STEP_REQUIREMENTS,
        STEP_REQUIREMENTS,
        TOKEN_STEP_REQUIREMENTS,
    )

    third_party = {
        "jwt": "PyJWT",
        "cryptography": "cryptography",
        "argon2": "argon2-cffi",
        "aws_lambda_powertools": "aws-lambda-powertools",
    }
    expected = {
        "steps.hash_password": PASSWORD_STEP_REQUIREMENTS,
        "steps.verify_password": PASSWORD_STEP_REQUIREMENTS,
        "steps.issue_tokens": TOKEN_STEP_REQUIREMENTS,
        "steps.publish_jwks": TOKEN_STEP_REQUIREMENTS,
        "steps.validate_registration": STEP_REQUIREMENTS,
        "steps.validate_login": STEP_REQUIREMENTS,
        "steps.validate_refresh": STEP_REQUIREMENTS,
        "steps.rotate_refresh_token": TOKEN_STEP_REQUIREMENTS,
        "steps.validate_logout": STEP_REQUIREMENTS,
        "steps.end_sessions": STEP_REQUIREMENTS,
        "steps.disable_user": STEP_REQUIREMENTS,
        "steps.delete_account": STEP_REQUIREMENTS,
        "steps.list_sessions": STEP_REQUIREMENTS,
        "steps.end_session": STEP_REQUIREMENTS,
        "steps.stream_cleanup": STEP_REQUIREMENTS,
    }
    # One interpreter that forks a fresh child per handler (instead of one interpreter start-up
    # each): the child imports the handler module alone and reports the top-level packages
    # loaded; the parent imported nothing of the project, so nothing leaks between handlers.
    child = (
        "import json, os, sys\n"
        "found = {}\n"
        "for module in json.loads(sys.argv[1]):\n"
        "    read, write = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.close(read)\n"
        "        __import__(module)\n"
        "        os.write(write, ' '.join({m.split('.')[0] for m in sys.modules}).encode())\n"
        "        os._exit(0)\n"
        "    os.close(write)\n"
        "    with os.fdopen(read) as pipe:\n"
        "        found[module] = pipe.read().split()\n"
        "    assert os.waitpid(pid, 0)[1] == 0, module\n"
        "print(json.dumps(found))\n"
    )
    report = subprocess.run(
        [sys.executable, "-c", child, json.dumps(sorted(expected))],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    imports = json.loads(report.stdout)
    assert set(imports) == set(expected)
    for module, requirements in expected.items():
        imported = imports[module]
        assert module.split(".")[0] in imported  # the child really imported the handler
        needed = {third_party[m] for m in imported if m in third_party}
        bundled = {r.split("[")[0].split(">")[0] for r in requirements}
        assert needed == bundled, (module, needed, bundled)


# -- sessions and the stream clean-up ---------------------------------------------------------


def test_the_stream_feeds_the_cleanup_through_a_filtered_mapping(template: dict) -> None:
    (mapping,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    (table_id,) = resources(template, "AWS::DynamoDB::Table")
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    function = template["Resources"][props["FunctionName"]["Ref"]]["Properties"]
    assert function["Handler"] == "steps.stream_cleanup.handler"
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert props["MaximumRetryAttempts"] == 5
    assert props["BatchSize"] == 100
    assert props["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    patterns = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert {p["eventName"][0] for p in patterns} == {"MODIFY", "REMOVE"}
    ttl_identity = {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}
    removals = [p for p in patterns if p["eventName"] == ["REMOVE"]]
    assert removals and all(p["userIdentity"] == ttl_identity for p in removals)
    modifications = [p for p in patterns if p["eventName"] == ["MODIFY"]]
    assert {p["dynamodb"]["NewImage"]["entity"]["S"][0] for p in modifications} == {
        "refresh_family",
        "user",
    }
    # The queue keeps failed batches (metadata only) for two weeks, encrypted.
    queue = template["Resources"][queue_id]["Properties"]
    assert queue["MessageRetentionPeriod"] == 14 * 86400
    assert queue["SqsManagedSseEnabled"] is True


def test_the_cleanup_may_read_the_stream_write_the_table_and_send_to_its_queue(
    template: dict,
) -> None:
    (mapping,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    function_id = mapping["Properties"]["FunctionName"]["Ref"]
    role = template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    documents = json.dumps(
        [
            p["Properties"]["PolicyDocument"]
            for p in resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"]["Roles"]
        ]
    )
    for action in (
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:BatchWriteItem",
        "dynamodb:TransactWriteItems" if "TransactWriteItems" in documents else "dynamodb:PutItem",
        "sqs:SendMessage",
    ):
        assert action in documents, action


def test_session_routes_are_protected_and_take_the_id_from_the_path(template: dict) -> None:
    listing = _route(template, "GET", "v1sessions")
    assert listing["AuthorizationType"] == "CUSTOM"
    ending = _route(template, "DELETE", "sessionsid")
    assert ending["AuthorizationType"] == "CUSTOM"
    request = json.dumps(ending["Integration"]["RequestTemplates"]["application/json"])
    assert "$input.params('id')" in request
    assert 'target\\\\\\":{\\\\\\"sessionId' in request or "sessionId" in request
    states = definition_of(_machine(template, "EndSession"))["States"]
    catch = states["EndSession"]["Catch"][0]
    assert catch["ErrorEquals"] == ["SessionNotFound"]
    assert rejection_status(states, catch["Next"]) == 404
    ended = after_audit(states, states["EndSession"]["Next"])
    assert states[ended]["Parameters"] == {"statusCode": 204, "body": ""}
    for method in (listing, ending):
        statuses = {r["StatusCode"] for r in method["MethodResponses"]}
        assert {"200", "204", "401", "404"} <= statuses


def test_cdk_nag_aws_solutions_finds_nothing_unacknowledged(
    stack_variants: dict[str, Synthesis],
) -> None:
    """Every AwsSolutions finding is fixed in the stack or acknowledged in cdk/nag.py."""
    nag = stack_variants["nag"]
    tmp_path = nag.assembly.directory
    try:
        nag.require()
    except RuntimeError as error:
        report = tmp_path / "validation-report.json"
        findings = json.loads(report.read_text()) if report.exists() else {}
        rules = [
            v["ruleName"]
            for r in findings.get("pluginReports", [])
            for v in r.get("violations", [])
        ]
        pytest.fail(f"unacknowledged cdk-nag findings: {rules or str(error)[-2000:]}")
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"], "the AwsSolutions pack did not run"
    assert all(not r.get("violations") for r in report["pluginReports"])


def test_every_acknowledgement_has_a_reason() -> None:
    from cdk.nag import ACKNOWLEDGED

    assert ACKNOWLEDGED
    assert all(len(reason) > 40 for reason in ACKNOWLEDGED.values())


def test_api_logs_requests_without_bodies(template: dict) -> None:
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["AccessLogSetting"]["DestinationArn"]
    log_format = json.loads(props["AccessLogSetting"]["Format"])
    assert log_format["requestId"] == "$context.extendedRequestId"  # never client-chosen
    assert "body" not in json.dumps(log_format).lower()
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] == "ERROR" and settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0


def test_uniform_registration_answers_the_same_for_free_and_taken_emails(
    stack_variants: dict[str, Synthesis], tmp_path: Path
) -> None:
    template = stack_variants["uniform-registration"].require().template()
    states = definition_of(_machine(template, "Register"))["States"]
    assert "IssueTokens" not in states  # no tokens: the client logs in next
    store = states["StoreUser"]
    assert (
        after_audit(states, store["Next"])
        == after_audit(states, store["Catch"][0]["Next"])
        == "RespondAccepted"
    )
    assert states["RespondAccepted"]["Parameters"]["statusCode"] == 202
    register = definition_of(_machine(template, "Register"))
    assert asl_validator_verdicts({"Register": register}, tmp_path) == {"Register": True}
