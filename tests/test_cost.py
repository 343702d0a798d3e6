"""The cost model: its per-request arithmetic (on a small hand-written template, so that every
figure can be worked out by hand) and what it reads off the real synthesized template."""

from __future__ import annotations

import json
import math

import pytest

from stepauth import cost
from stepauth.cli import main as stepauth
from stepauth.cost import RequestUnits, StackModel, StepDuration

# One duration for every step: 10 ms of CPU, no waiting, 100 bytes of logs.
FLAT = StepDuration(wall_ms=10.0, cpu_ms=10.0, log_bytes=100.0)
LAMBDA_RETRY = [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2}]


def _function(handler: str, memory: int) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": handler, "MemorySize": memory, "Architectures": ["x86_64"]},
    }


def _lambda_task(function: str, following: str) -> dict:
    return {"Type": "Task", "Resource": "${" + function + "}", "Next": following}


def _definition() -> dict:
    """A login: validate, getItem, verify, issue, an audit putItem, a Pass; plus a Catch path."""
    return {
        "StartAt": "Validate",
        "States": {
            "Validate": _lambda_task("Validate", "FindUser"),
            "FindUser": {
                "Type": "Task",
                "Resource": "arn:${AWS::Partition}:states:::dynamodb:getItem",
                "Parameters": {"TableName": "t", "Key": {}, "ConsistentRead": True},
                "Next": "Verify",
            },
            "Verify": {
                **_lambda_task("Verify", "Issue"),
                "Retry": LAMBDA_RETRY,
                "Catch": [{"ErrorEquals": ["InvalidCredentials"], "Next": "Refuse"}],
            },
            "Issue": _lambda_task("Issue", "Audit"),
            "Audit": {
                "Type": "Task",
                "Resource": "arn:${AWS::Partition}:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": "t",
                    "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}, "gsi1pk.$": "$.x", "gsi1sk": {}},
                },
                "Next": "Respond",
            },
            "Respond": {"Type": "Pass", "End": True},
            "Refuse": {"Type": "Task", "Resource": "${Verify}", "End": True},
        },
    }


def _join_definition() -> dict:
    """The definition as CDK writes it: an Fn::Join, function ARNs as Fn::GetAtt, ${X} -> X."""
    first, *pieces = json.dumps(_definition()).split("${")
    parts: list = [first]
    for piece in pieces:
        name, rest = piece.split("}", 1)
        parts.append({"Ref": name} if name.startswith("AWS::") else {"Fn::GetAtt": [name, "Arn"]})
        parts.append(rest)
    return {"Fn::Join": ["", parts]}


@pytest.fixture(scope="module")
def small() -> StackModel:
    """A login route on a hand-written template: 256 MB validate/issue, 1024 MB verify."""
    template = {
        "Resources": {
            "Validate": _function("steps.validate_login.handler", 256),
            "Verify": _function("steps.verify_password.handler", 1024),
            "Issue": _function("steps.issue_tokens.handler", 256),
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "t",
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "gsi1",
                            "KeySchema": [
                                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                            ],
                        }
                    ],
                },
            },
            "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
            "Login": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "app-Login",
                    "StateMachineType": "EXPRESS",
                    "DefinitionString": _join_definition(),
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
            "V1": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "v1",
                },
            },
            "LoginResource": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {"ParentId": {"Ref": "V1"}, "PathPart": "login"},
            },
            "LoginPost": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "HttpMethod": "POST",
                    "ResourceId": {"Ref": "LoginResource"},
                    "AuthorizationType": "NONE",
                    "Integration": {
                        "Uri": {
                            "Fn::Join": [
                                "",
                                [
                                    "arn:",
                                    {"Ref": "AWS::Partition"},
                                    ":apigateway:us-east-1:",
                                    "states:action/StartSyncExecution",
                                ],
                            ]
                        },
                        "RequestTemplates": {"application/json": {"Ref": "Login"}},
                    },
                },
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {
                    "MethodSettings": [
                        {
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": 50,
                            "ThrottlingBurstLimit": 100,
                        }
                    ]
                },
            },
        }
    }
    return StackModel.from_template(template)


@pytest.fixture(scope="module")
def model(template: dict) -> StackModel:
    return StackModel.from_template(template)


def flat_for(model: StackModel) -> dict[str, StepDuration]:
    return {function.handler: FLAT for function in model.functions.values()}


def workflow_of(model: StackModel, suffix: str) -> cost.Workflow:
    (workflow,) = [w for w in model.workflows.values() if w.name.endswith(suffix)]
    return workflow


def state(workflow: cost.Workflow, name: str) -> cost.State:
    (found,) = [s for s in workflow.states if s.name == name]
    return found


# -- pricing arithmetic -------------------------------------------------------------------------


def test_tiered_prices() -> None:
    assert cost.tiered(1e6, cost.API_GATEWAY_REST_TIERS) == pytest.approx(3.50)
    # 333 M at $3.50/M, the next 67 M at $2.80/M.
    assert cost.tiered(400e6, cost.API_GATEWAY_REST_TIERS) == pytest.approx(1165.5 + 187.6)
    assert cost.tiered(0, cost.API_GATEWAY_REST_TIERS) == 0


def test_cognito_tiers_with_the_free_tier() -> None:
    assert cost.tiered(10_000, cost.COGNITO_LITE_TIERS) == 0
    assert cost.tiered(100_000, cost.COGNITO_LITE_TIERS) == pytest.approx(90_000 * 0.0055)
    assert cost.tiered(1_100_000, cost.COGNITO_LITE_TIERS) == pytest.approx(
        90_000 * 0.0055 + 900_000 * 0.0046 + 100_000 * 0.00325
    )
    assert cost.tiered(100_000, cost.COGNITO_ESSENTIALS_TIERS) == pytest.approx(1350.0)


def test_express_bills_100_ms_and_64_mb_steps() -> None:
    assert cost.express_billed_ms(1) == 100
    assert cost.express_billed_ms(100) == 100
    assert cost.express_billed_ms(100.5) == 200
    assert cost.express_gb_seconds(200) == pytest.approx(0.2 * 64 / 1024)
    assert cost.express_gb_seconds(100, memory_mb=65) == pytest.approx(0.1 * 128 / 1024)


def test_lambda_duration_stretches_cpu_below_a_full_vcpu() -> None:
    step = StepDuration(wall_ms=30.0, cpu_ms=20.0)
    # 20 ms of CPU at 1024/1769 of a vCPU, plus 10 ms of waiting, rounded up to the ms.
    assert step.billed_ms(1024) == math.ceil(20 * 1769 / 1024 + 10)
    assert step.billed_ms(1769) == 30
    assert step.billed_ms(3008) == 30  # more than one vCPU does not speed up one thread
    assert StepDuration(0.01, 0.01).billed_ms(128) == 1


def test_dynamodb_units_of_direct_integrations() -> None:
    index = [{"gsi1pk", "gsi1sk"}]
    assert cost.dynamodb_units("getItem", {"ConsistentRead": True}, index) == RequestUnits(1.0)
    assert cost.dynamodb_units("query", {}, index) == RequestUnits(0.5)
    item = {"pk": {}, "gsi1pk.$": "$.a", "gsi1sk": {}}
    assert cost.dynamodb_units("putItem", {"Item": item}, index) == RequestUnits(write=2.0)
    assert cost.dynamodb_units("putItem", {"Item": {"pk": {}}}, index) == RequestUnits(write=1.0)
    assert cost.dynamodb_units("updateItem", {}, index) == RequestUnits(write=2.0)
    with pytest.raises(ValueError, match="not modelled"):
        cost.dynamodb_units("batchWriteItem", {}, index)


def test_the_small_template_is_read_as_written(small: StackModel) -> None:
    (login,) = small.workflows.values()
    assert [(s.name, s.kind) for s in login.states] == [
        ("Validate", "lambda"),
        ("FindUser", "dynamodb"),
        ("Verify", "lambda"),
        ("Issue", "lambda"),
        ("Audit", "dynamodb"),
        ("Respond", "flow"),
    ]  # the Catch path (Refuse) is not on the success path
    assert state(login, "FindUser").units == RequestUnits(read=1.0)
    assert state(login, "Audit").units == RequestUnits(write=2.0)  # + its gsi1 copy
    assert login.history_events == 2 + 5 * 5 + 2
    route = small.route("POST", "/v1/login")
    assert route.integration == "workflow" and route.target == "Login"
    assert small.stage_rate_limit == 50 and small.secrets == 1


def test_one_login_by_hand(small: StackModel) -> None:
    login = cost.operation_usage(small, "login", small.route("POST", "/v1/login"), flat_for(small))
    small_ms = math.ceil(10 * 1769 / 256)  # Validate, Issue: 256 MB -> 70 ms
    large_ms = math.ceil(10 * 1769 / 1024)  # Verify: 1024 MB -> 18 ms
    assert (small_ms, large_ms) == (70, 18)
    usage = login.usage
    assert usage.api_requests == 1 and usage.express_requests == 1
    assert usage.lambda_requests == 3
    gb_seconds = 2 * 0.070 * 0.25 + 0.018 * 1.0
    assert usage.lambda_gb_seconds == {"x86_64": pytest.approx(gb_seconds)}
    # Three Lambda Tasks (each + 20 ms invoke), two DynamoDB Tasks (10 ms), one Pass (1 ms).
    assert login.express_duration_ms == pytest.approx(70 + 18 + 70 + 3 * 20 + 2 * 10 + 1)
    assert login.express_billed_ms == 300
    assert usage.express_gb_seconds == pytest.approx(0.3 * 64 / 1024)
    # FindUser 1 RRU; VerifyPassword's read of the MFA enrolment 1 RRU (declared); the audit
    # putItem 2 WRU; IssueTokens' transaction 6 WRU (declared).
    assert (usage.read_units, usage.write_units) == (2.0, 8.0)
    assert usage.log_bytes == 3 * (350 + 100) + 29 * 400

    dollars = sum(line.usd for line in cost.cost_lines(usage, secrets=0))
    assert dollars == pytest.approx(
        3.50e-6  # API Gateway request
        + 1.00e-6  # Express request
        + 0.3 * 64 / 1024 * 0.00001667  # Express duration
        + 3 * 0.20e-6  # Lambda requests
        + gb_seconds * 0.0000166667  # Lambda duration
        + 2 * 0.125e-6  # RRU
        + 8 * 0.625e-6  # WRU
        + (3 * 450 + 29 * 400) / 1e9 * 0.50  # log ingestion
    )


def test_a_month_by_hand(small: StackModel) -> None:
    result = cost.estimate(small, 100_000, {"login": 10.0}, flat_for(small))
    assert result.counts == {"login": 1_000_000}
    lines = {(line.service, line.item): line for line in result.lines}
    assert lines[("API Gateway (REST)", "requests")].usd == pytest.approx(3.50)
    assert lines[("Step Functions Express", "requests")].usd == pytest.approx(1.00)
    assert lines[("Lambda", "requests")].usd == pytest.approx(0.60)
    assert lines[("DynamoDB on-demand", "writes")].usd == pytest.approx(8 * 0.625)
    # One IssueTokens environment is enough (1 M x 70 ms over a month): one key read per 300 s.
    assert result.usage.secrets_api_calls == pytest.approx(cost.SECONDS_PER_MONTH / 300)
    assert lines[("Secrets Manager", "secrets")].usd == pytest.approx(0.40)
    assert result.total_usd == pytest.approx(sum(line.usd for line in result.lines))
    assert result.cognito == {"lite": pytest.approx(495.0), "essentials": pytest.approx(1350.0)}

    double = cost.estimate(small, 200_000, {"login": 10.0}, flat_for(small))
    for before, after in zip(result.lines, double.lines, strict=True):
        if before.service in ("API Gateway (REST)", "Step Functions Express", "Lambda"):
            assert after.usd == pytest.approx(2 * before.usd)


def test_capacity_is_rate_times_billed_duration(small: StackModel) -> None:
    result = cost.estimate(small, 100_000, {"login": 10.0}, flat_for(small))
    plan = cost.capacity(result, peak_rps=100.0)
    assert plan["lambda_concurrency"]["Verify"] == pytest.approx(100 * 0.018)
    assert plan["lambda_concurrency"]["Issue"] == pytest.approx(100 * 0.070)
    assert plan["express_executions_per_second"] == pytest.approx(100.0)
    assert plan["dynamodb_rru_per_second"] == pytest.approx(200.0)  # FindUser + the MFA read
    assert plan["dynamodb_wru_per_second"] == pytest.approx(800.0)
    assert any("stage throttle of 50" in warning for warning in plan["warnings"])
    assert cost.capacity(result, peak_rps=10.0)["warnings"] == []


def test_durations_come_from_bench_results_when_present(tmp_path) -> None:
    results = tmp_path / "latest.json"
    measured = {"wall_ms": 40.0, "cpu_ms": 39.0, "log_bytes": 200.0, "invocations": 9.0}
    results.write_text(
        json.dumps(
            {
                "machine": {"date": "2030-01-01T00:00:00Z", "cpu_model": "test cpu"},
                "step_durations": {"steps.verify_password.handler": measured},
            }
        )
    )
    durations, source = cost.load_durations(results)
    assert durations["steps.verify_password.handler"] == StepDuration(40.0, 39.0, 200.0)
    # the local DynamoDB's share of a handler's thread CPU is DynamoDB's on AWS: waiting, not CPU
    measured["service_cpu_ms"] = 9.0
    results.write_text(json.dumps({"step_durations": {"steps.verify_password.handler": measured}}))
    on_aws, _ = cost.load_durations(results)
    assert on_aws["steps.verify_password.handler"] == StepDuration(40.0, 30.0, 200.0)
    issue = "steps.issue_tokens.handler"
    assert durations[issue] == cost.DEFAULT_STEP_DURATIONS[issue]
    assert "latest.json" in source and "2030-01-01" in source
    defaults, source = cost.load_durations(tmp_path / "missing.json")
    assert defaults == cost.DEFAULT_STEP_DURATIONS and "defaults" in source


# -- the real template --------------------------------------------------------------------------


def test_login_success_path_is_read_from_the_asl(model: StackModel) -> None:
    login = workflow_of(model, "-Login")
    handlers = [model.functions[s.function].handler for s in login.states if s.function]
    assert handlers == [
        "steps.validate_login.handler",
        "steps.verify_password.handler",
        "steps.issue_tokens.handler",
    ]
    find_user = state(login, "FindUser")
    assert find_user.action == "dynamodb:getItem"
    assert find_user.units == RequestUnits(read=1.0)  # ConsistentRead: true
    assert login.states[-1].kind == "flow"  # the response is shaped by a Pass state
    tasks = sum(1 for s in login.states if s.kind != "flow")
    assert login.history_events == 2 + 5 * tasks + 2 * (len(login.states) - tasks)


def test_direct_writes_count_the_index_copy(model: StackModel) -> None:
    # The user item carries gsi1pk/gsi1sk: one WRU for the table, one for the index.
    store = state(workflow_of(model, "-Register"), "StoreUser")
    assert store.action == "dynamodb:putItem" and store.units == RequestUnits(write=2.0)
    # A denylist entry has no index keys.
    assert state(workflow_of(model, "-Logout"), "DenyAccessToken").units == RequestUnits(write=1)


def test_routes_functions_and_settings(model: StackModel) -> None:
    verify = model.function_by_handler("steps.verify_password.handler")
    assert verify is not None and verify.memory_mb == 1024 and verify.architecture == "x86_64"
    login = model.route("POST", "/v1/login")
    assert login.integration == "workflow" and login.authorizer_function is None
    assert model.workflows[login.target].name.endswith("-Login")
    logout = model.route("POST", "/v1/logout")
    assert model.functions[logout.authorizer_function].handler == "authorizer.handler.handler"
    me = model.route("GET", "/v1/me")
    assert me.integration == "dynamodb" and me.units == RequestUnits(read=0.5)
    jwks = model.route("GET", "/.well-known/jwks.json")
    assert model.functions[jwks.target].handler == "steps.publish_jwks.handler"
    assert model.stage_rate_limit == 50
    assert model.secrets >= 1


def test_step_units_add_to_the_asl_units(model: StackModel) -> None:
    flat = flat_for(model)
    refresh_route = model.route("POST", "/v1/token/refresh")
    refresh = cost.operation_usage(model, "refresh", refresh_route, flat)
    asl = workflow_of(model, "-Refresh").states
    # RotateRefreshToken 3 RRU + 9 WRU (one transaction of three items and their gsi1 copies).
    assert refresh.usage.read_units == sum(s.units.read for s in asl) + 3
    assert refresh.usage.write_units == sum(s.units.write for s in asl) + 9
    logout = cost.operation_usage(model, "logout", model.route("POST", "/v1/logout"), flat)
    assert "authorizer.handler.handler" in {
        model.functions[fid].handler for fid in logout.usage.invocations
    }
    asl = workflow_of(model, "-Logout").states
    # The authorizer's denylist and marker read (2 RRU) and EndSessions (1 RRU + 2 WRU).
    assert logout.usage.read_units == sum(s.units.read for s in asl) + 2 + 1
    assert logout.usage.write_units == sum(s.units.write for s in asl) + 2


def test_every_template_handler_has_declared_table_operations(model: StackModel) -> None:
    declared = {handler for _, handler in cost.STEP_TABLE_OPERATIONS}
    missing = {f.handler for f in model.functions.values()} - declared
    assert not missing, f"declare the table operations of {missing} in STEP_TABLE_OPERATIONS"


def test_periodic_reads_match_the_cache_lifetimes_in_the_code() -> None:
    from authorizer.keys import MAX_AGE_SECONDS
    from steps.core.signing_keys import CACHE_SECONDS

    assert cost.PERIODIC_READS["steps.issue_tokens.handler"].every_seconds == CACHE_SECONDS
    assert cost.PERIODIC_READS["authorizer.handler.handler"].every_seconds == MAX_AGE_SECONDS


def test_the_command_line(template: dict, tmp_path, capsys) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    common = ["cost", "--mau", "50000", "--logins-per-mau", "4", "--refreshes-per-mau", "20"]
    options = ["--template", str(path), "--bench-results", str(tmp_path / "none.json")]
    none_else = ["--registrations-per-mau", "0", "--logouts-per-mau", "0"]
    assert stepauth([*common, *options, *none_else, "--json", "--peak-rps", "80"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["operations_per_month"] == {"login": 200_000, "refresh": 1_000_000}
    assert document["total_usd"] == pytest.approx(sum(line["usd"] for line in document["lines"]))
    assert document["prices"]["as_of"] == cost.PRICES_AS_OF
    assert document["capacity"]["peak_rps"] == 80
    assert set(document["cognito_usd"]) == {"lite", "essentials"}
    assert "defaults" in document["durations_source"]

    assert stepauth([*common, *options]) == 0
    text = capsys.readouterr().out
    assert "Cognito" in text and "total" in text and "per million" in text

    assert stepauth([*common, "--template", str(tmp_path / "absent.json")]) == 1
    assert "stepauth cost:" in capsys.readouterr().err


def test_every_usage_figure_has_a_documented_default(template: dict, tmp_path, capsys) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    options = ["--template", str(path), "--bench-results", str(tmp_path / "none.json")]
    assert stepauth(["cost", *options, "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["mau"] == cost.DEFAULT_MAU
    assert document["per_mau"] == cost.DEFAULT_PER_MAU
    with pytest.raises(SystemExit):
        stepauth(["cost", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert f"(default {cost.DEFAULT_MAU:,})" in usage
    for rate in cost.DEFAULT_PER_MAU.values():
        assert f"(default {rate:g})" in usage


def test_synthesizing_announces_itself_on_stderr(monkeypatch, capsys) -> None:
    """Without --template the app is synthesized (10-20 s): a progress line says so first."""
    import io

    from localcloud import deploy
    from stepauth.cost import command

    class Assembly:
        def template(self) -> dict:
            return {"Resources": {}}

    progress = io.StringIO()

    def synthesize(outdir, context=None):
        assert "synthesizing the CDK app" in progress.getvalue()  # said before the wait
        return Assembly()

    monkeypatch.setattr(deploy, "synthesize", synthesize)
    assert command.load_template(None, progress=progress) == {"Resources": {}}


def test_the_price_list_is_dated_data_with_unbounded_last_tiers() -> None:
    import tomllib
    from importlib import resources

    data = tomllib.loads(resources.files("stepauth.cost").joinpath("prices.toml").read_text())
    assert data["as_of"] == cost.PRICES_AS_OF and data["region"] == cost.REGION
    for tiers in (cost.API_GATEWAY_REST_TIERS, cost.COGNITO_LITE_TIERS):
        assert tiers[-1][0] == math.inf
        assert all(size > 0 and price >= 0 for size, price in tiers)
