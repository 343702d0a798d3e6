"""One test per gap of moto closed by the modules localcloud/patches.py applies, against the
running local cloud."""

from __future__ import annotations

import io
import json
import os
import re
import uuid
import zipfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import awslambda, dynamodb, stepfunctions
from localcloud.cloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/local-test"


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    session = boto3.Session(region_name=local_cloud.settings.region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            }
        ],
    }
    iam = session.client("iam")
    try:
        iam.create_role(RoleName="local-test", AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    return session


def sfn(aws: boto3.Session):  # the sync API must not be host-prefixed locally
    return aws.client("stepfunctions", config=Config(inject_host_prefix=False))


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "code runs in-process from the project")
    return buffer.getvalue()


def _function(aws: boto3.Session, handler: str, env: dict[str, str] | None = None) -> str:
    name = f"test-{uuid.uuid4().hex[:8]}"
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": _zip()},
        Environment={"Variables": env or {}},
    )
    return name


def _machine(
    aws: boto3.Session, definition: dict, sm_type: str = "EXPRESS", include_data: bool | None = None
) -> str:
    kwargs: dict = {}
    if include_data is not None:
        kwargs["loggingConfiguration"] = {
            "level": "ALL",
            "includeExecutionData": include_data,
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:x:*"
                    }
                }
            ],
        }
    return aws.client("stepfunctions").create_state_machine(
        name=f"test-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type=sm_type,
        **kwargs,
    )["stateMachineArn"]


PASS = {
    "StartAt": "Hello",
    "States": {
        "Hello": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hello {}', $.who)"},
            "End": True,
        }
    },
}


# 1 -------------------------------------------------------------------------------------------
def test_lambda_runs_the_named_handler_in_process(aws: boto3.Session) -> None:
    name = _function(aws, "tests.localcloud_handlers.echo", {"ECHO_SETTING": "on"})
    answer = aws.client("lambda").invoke(FunctionName=name, Payload=b'{"a": 1}')
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer
    assert payload == {
        "event": {"a": 1},
        "function": name,
        "setting": "on",
        "remaining_ms_positive": True,
    }


def test_lambda_errors_carry_the_exception_name_and_message(aws: boto3.Session) -> None:
    name = _function(aws, "tests.localcloud_handlers.refuse")
    answer = aws.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    payload = json.loads(answer["Payload"].read())
    assert answer["FunctionError"]
    assert payload["errorType"] == "GreetingRefused"
    assert payload["errorMessage"] == "no greetings today"


def test_lambda_with_a_missing_handler_fails_cleanly(aws: boto3.Session) -> None:
    name = _function(aws, "tests.no_such_module.handler")
    answer = aws.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(answer["Payload"].read())["errorType"] == "ModuleNotFoundError"


def test_conflicting_function_environments_are_refused() -> None:
    awslambda.apply_function_environment({"STEPAUTH_TEST_VALUE": "one"})
    with pytest.raises(RuntimeError, match="STEPAUTH_TEST_VALUE"):
        awslambda.apply_function_environment({"STEPAUTH_TEST_VALUE": "two"})


def test_a_function_variable_the_process_already_had_is_still_guarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value already in place is not set again, but a function that disagrees is refused."""
    monkeypatch.setenv("STEPAUTH_TEST_PRESET", "one")
    awslambda.apply_function_environment({"STEPAUTH_TEST_PRESET": "one"})
    with pytest.raises(RuntimeError, match="STEPAUTH_TEST_PRESET"):
        awslambda.apply_function_environment({"STEPAUTH_TEST_PRESET": "two"})
    assert os.environ["STEPAUTH_TEST_PRESET"] == "one"


def test_a_warm_function_s_variables_are_checked_again_on_every_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Applied once, a function's variables are still read on each call: one removed since is
    set again, and one changed by anything else is a conflict, as on the first call."""
    variables = {"STEPAUTH_TEST_WARM": "one", "STEPAUTH_TEST_WARM_OTHER": "two"}
    awslambda.apply_function_environment(variables)
    awslambda.apply_function_environment(variables)
    monkeypatch.delenv("STEPAUTH_TEST_WARM_OTHER")
    awslambda.apply_function_environment(variables)
    assert os.environ["STEPAUTH_TEST_WARM_OTHER"] == "two"
    monkeypatch.setenv("STEPAUTH_TEST_WARM", "changed")
    with pytest.raises(RuntimeError, match="STEPAUTH_TEST_WARM"):
        awslambda.apply_function_environment(variables)


# 2 -------------------------------------------------------------------------------------------
def test_start_sync_execution_returns_the_output(aws: boto3.Session) -> None:
    arn = _machine(aws, PASS)
    answer = sfn(aws).start_sync_execution(
        stateMachineArn=arn, input='{"who": "world"}', name="req-123"
    )
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"greeting": "hello world"}
    assert answer["name"] == "req-123"
    assert ":express:" in answer["executionArn"]


def test_start_sync_execution_reports_failures(aws: boto3.Session) -> None:
    arn = _machine(
        aws,
        {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "Nope", "Cause": "because"}}},
    )
    answer = sfn(aws).start_sync_execution(stateMachineArn=arn, input="{}")
    assert (answer["status"], answer["error"], answer["cause"]) == ("FAILED", "Nope", "because")


def test_start_sync_execution_refuses_standard_machines(aws: boto3.Session) -> None:
    arn = _machine(aws, PASS, sm_type="STANDARD")
    with pytest.raises(ClientError) as refused:
        sfn(aws).start_sync_execution(stateMachineArn=arn, input="{}")
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_start_sync_execution_calls_lambda_tasks(aws: boto3.Session) -> None:
    function = _function(aws, "tests.localcloud_handlers.echo")
    arn = _machine(
        aws,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
                    "End": True,
                }
            },
        },
    )
    answer = sfn(aws).start_sync_execution(stateMachineArn=arn, input='{"x": 2}')
    assert answer["status"] == "SUCCEEDED", answer.get("cause")
    assert json.loads(answer["output"])["event"] == {"x": 2}


# 3 -------------------------------------------------------------------------------------------
def test_executions_without_a_name_get_unique_names(aws: boto3.Session) -> None:
    arn = _machine(aws, PASS, sm_type="STANDARD")
    client = aws.client("stepfunctions")
    first = client.start_execution(stateMachineArn=arn, input='{"who": "a"}')
    second = client.start_execution(stateMachineArn=arn, input='{"who": "b"}')
    assert first["executionArn"] != second["executionArn"]
    names = {e["name"] for e in client.list_executions(stateMachineArn=arn)["executions"]}
    assert len(names) == 2 and "None" not in names


# 4, 5, 6 -------------------------------------------------------------------------------------
CFN_TEMPLATE = {
    "Resources": {
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "cfn-machine",
                "StateMachineType": "EXPRESS",
                "RoleArn": ROLE,
                "DefinitionString": json.dumps(PASS).replace("hello", "${Word}"),
                "DefinitionSubstitutions": {"Word": "bonjour"},
                "LoggingConfiguration": {
                    "Level": "ALL",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {
                            "CloudWatchLogsLogGroup": {
                                "LogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:cfn:*"
                            }
                        }
                    ],
                },
            },
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "cfn-table",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            },
        },
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"Name": "cfn/secret", "GenerateSecretString": {"PasswordLength": 40}},
        },
    },
    "Outputs": {
        "SecretRef": {"Value": {"Ref": "Secret"}},
        "MachineRef": {"Value": {"Ref": "Machine"}},
    },
}


@pytest.fixture(scope="module")
def cfn_stack(aws: boto3.Session) -> dict[str, str]:
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(StackName="patch-test", TemplateBody=json.dumps(CFN_TEMPLATE))
    stack = cloudformation.describe_stacks(StackName="patch-test")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_cloudformation_state_machines_are_executable(aws: boto3.Session, cfn_stack) -> None:
    arn = cfn_stack["MachineRef"]
    described = aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert described["type"] == "EXPRESS"
    assert described["loggingConfiguration"]["includeExecutionData"] is False
    answer = sfn(aws).start_sync_execution(stateMachineArn=arn, input='{"who": "toi"}')
    assert json.loads(answer["output"]) == {"greeting": "bonjour toi"}


def test_cloudformation_applies_table_ttl(aws: boto3.Session, cfn_stack) -> None:
    ttl = aws.client("dynamodb").describe_time_to_live(TableName="cfn-table")
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def test_cloudformation_creates_secrets(aws: boto3.Session, cfn_stack) -> None:
    arn = cfn_stack["SecretRef"]
    assert arn.startswith("arn:aws:secretsmanager:") and ":secret:cfn/secret" in arn
    value = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert len(value) == 40


# 7 -------------------------------------------------------------------------------------------
def _history(aws: boto3.Session, include_data: bool) -> list[dict]:
    function = _function(aws, "tests.localcloud_handlers.echo")
    arn = _machine(
        aws,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function, "Payload.$": "$"},
                    "End": True,
                }
            },
        },
        include_data=include_data,
    )
    answer = sfn(aws).start_sync_execution(stateMachineArn=arn, input='{"secret": "s3cr3t-value"}')
    return aws.client("stepfunctions").get_execution_history(executionArn=answer["executionArn"])[
        "events"
    ]


def test_history_without_execution_data_holds_no_input_or_output(aws: boto3.Session) -> None:
    events = _history(aws, include_data=False)
    assert {e["type"] for e in events} >= {
        "ExecutionStarted",
        "TaskScheduled",
        "TaskSucceeded",
        "ExecutionSucceeded",
    }
    assert "s3cr3t-value" not in json.dumps(events, default=str)


def test_history_with_execution_data_keeps_it(aws: boto3.Session) -> None:
    events = _history(aws, include_data=True)
    assert "s3cr3t-value" in json.dumps(events, default=str)


# 8 -------------------------------------------------------------------------------------------
def test_task_states_reuse_one_client_per_service(aws: boto3.Session) -> None:
    """Needs the local cloud's patches applied (the `aws` fixture starts it)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    first = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
    second = lambda_eval_utils.boto_client_for(region="us-east-1", service="lambda")
    other = lambda_eval_utils.boto_client_for(region="us-east-1", service="dynamodb")
    assert first is second
    assert other is not first


# 9 -------------------------------------------------------------------------------------------
def test_context_start_time_is_an_iso_string(aws: boto3.Session) -> None:
    arn = _machine(
        aws,
        {
            "StartAt": "When",
            "States": {
                "When": {
                    "Type": "Pass",
                    "Parameters": {"started.$": "$$.Execution.StartTime"},
                    "End": True,
                }
            },
        },
    )
    answer = sfn(aws).start_sync_execution(stateMachineArn=arn, input="{}")
    started = json.loads(answer["output"])["started"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", started), started


# 10 ------------------------------------------------------------------------------------------
def test_conditional_writes_are_atomic_under_concurrency(aws: boto3.Session, monkeypatch) -> None:
    import threading
    import time

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    # Widen the gap between moto's condition check and its write, so that without the
    # patch concurrent writers all pass the check (they do: try it).
    original_parser = dynamodb_models.create_condition_expression_parser

    def slow_parser(*args, **kwargs):
        parser = original_parser(*args, **kwargs)
        original_parse = parser.parse

        def parse():
            op = original_parse()
            original_expr = op.expr

            def expr(item):
                result = original_expr(item)
                time.sleep(0.05)
                return result

            op.expr = expr
            return op

        parser.parse = parse
        return parser

    monkeypatch.setattr(dynamodb_models, "create_condition_expression_parser", slow_parser)

    assert all(
        hasattr(getattr(DynamoDBBackend, n), "__wrapped__") for n in dynamodb.DYNAMODB_WRITES
    )
    client = aws.client("dynamodb")
    table = f"atomic-{uuid.uuid4().hex[:6]}"
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    client.put_item(TableName=table, Item={"pk": {"S": "t"}, "status": {"S": "active"}})
    winners: list[int] = []
    barrier = threading.Barrier(12)

    def spend(n: int) -> None:
        barrier.wait()
        try:
            client.update_item(
                TableName=table,
                Key={"pk": {"S": "t"}},
                UpdateExpression="SET #s = :spent, winner = :n",
                ConditionExpression="#s = :active",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":spent": {"S": "spent"},
                    ":active": {"S": "active"},
                    ":n": {"N": str(n)},
                },
            )
            winners.append(n)
        except client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    item = client.get_item(TableName=table, Key={"pk": {"S": "t"}})["Item"]
    assert item["winner"]["N"] == str(winners[0])


# 11, 12, 13 ----------------------------------------------------------------------------------
def _streamed_table(aws: boto3.Session, ttl: bool = False) -> tuple[str, str]:
    name = f"stream-{uuid.uuid4().hex[:8]}"
    client = aws.client("dynamodb")
    arn = client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    return name, arn


def _stream_records(aws: boto3.Session, stream_arn: str) -> list[dict]:
    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def test_stream_delivery_happens_off_the_writers_thread(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    """The handler writes to DynamoDB over HTTP: run inside the write, it would deadlock."""
    table, stream_arn = _streamed_table(aws)
    function = _function(aws, "tests.localcloud_handlers.stream_writer")
    aws.client("lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
    )
    impatient = aws.client("dynamodb", config=Config(read_timeout=10, retries={"max_attempts": 1}))
    with local_cloud.streams.paused():
        impatient.put_item(TableName=table, Item={"pk": {"S": "a"}})
        receipt = {"pk": {"S": "receipt-a"}}
        assert "Item" not in impatient.get_item(TableName=table, Key=receipt)
        local_cloud.streams.drain()
    assert "Item" in impatient.get_item(TableName=table, Key=receipt)
    # moto forgot delivered records; GetRecords still has them all.
    assert [r["eventName"] for r in _stream_records(aws, stream_arn)] == ["INSERT", "INSERT"]


def test_a_cancelled_transaction_leaves_no_stream_records(aws: boto3.Session) -> None:
    table, stream_arn = _streamed_table(aws)
    client = aws.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    with pytest.raises(ClientError):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "taken"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "new"}})
    records = _stream_records(aws, stream_arn)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["taken"]


def test_ttl_deletions_carry_the_ttl_identity(aws: boto3.Session, local_cloud: LocalCloud) -> None:
    import time

    table, stream_arn = _streamed_table(aws, ttl=True)
    client = aws.client("dynamodb")
    now = time.time() + 3600  # beyond the background sweeper's reach
    client.put_item(
        TableName=table, Item={"pk": {"S": "expired"}, "expires_at": {"N": str(int(now) - 5)}}
    )
    client.put_item(
        TableName=table, Item={"pk": {"S": "fresh"}, "expires_at": {"N": str(int(now) + 60)}}
    )
    client.put_item(TableName=table, Item={"pk": {"S": "deleted"}})
    client.delete_item(TableName=table, Key={"pk": {"S": "deleted"}})
    assert local_cloud.streams.sweep(now) >= 1
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "expired"}})
    assert "Item" in client.get_item(TableName=table, Key={"pk": {"S": "fresh"}})
    removals = {
        r["dynamodb"]["Keys"]["pk"]["S"]: r.get("userIdentity")
        for r in _stream_records(aws, stream_arn)
        if r["eventName"] == "REMOVE"
    }
    assert removals == {
        "deleted": None,
        "expired": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
    }
    # Lambda events spell it as Lambda does.
    with dynamodb.deleting_by_ttl():
        assert dynamodb.deletion_identity() == dynamodb.TTL_USER_IDENTITY
    assert dynamodb.deletion_identity() is None


def test_filter_criteria_decide_which_records_reach_the_function(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    from tests import localcloud_handlers

    table, stream_arn = _streamed_table(aws)
    function = _function(aws, "tests.localcloud_handlers.stream_consumer")
    patterns = [
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": [{"prefix": "keep"}]}}}},
        {"eventName": ["REMOVE"]},
    ]
    aws.client("lambda").create_event_source_mapping(
        FunctionName=function,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        FilterCriteria={"Filters": [{"Pattern": json.dumps(p)} for p in patterns]},
    )
    client = aws.client("dynamodb")
    localcloud_handlers.STREAM_BATCHES.clear()
    with local_cloud.streams.paused():
        for key, kind in (("a", "keep-me"), ("b", "drop-me"), ("c", "keeper")):
            client.put_item(TableName=table, Item={"pk": {"S": key}, "kind": {"S": kind}})
        client.put_item(TableName=table, Item={"pk": {"S": "a"}, "kind": {"S": "changed"}})
        client.delete_item(TableName=table, Key={"pk": {"S": "b"}})
        local_cloud.streams.drain()
    assert [keys for keys, _ in localcloud_handlers.STREAM_BATCHES] == [["a", "c", "b"]]


# 15 ------------------------------------------------------------------------------------------
def test_each_definition_is_parsed_once_and_its_executions_share_the_program(
    aws: boto3.Session,
) -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    definition = {
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Pass",
                "Parameters": {"greeting.$": "States.Format('bonjour {}', $.who)"},
                "End": True,
            }
        },
    }
    arn = _machine(aws, definition)
    before = stepfunctions.parsed_program.cache_info()
    outputs = [
        json.loads(
            sfn(aws).start_sync_execution(stateMachineArn=arn, input=json.dumps({"who": w}))[
                "output"
            ]
        )
        for w in ("a", "b", "c")
    ]
    after = stepfunctions.parsed_program.cache_info()
    assert outputs == [{"greeting": f"bonjour {w}"} for w in ("a", "b", "c")]
    assert after.misses - before.misses <= 1  # parsed at most once (creation may parse too)
    assert after.hits - before.hits >= 2

    class Details:
        class state_machine_details:  # noqa: N801 - mirrors moto's attribute names
            pass

    worker = ExecutionWorker.__new__(ExecutionWorker)
    worker._evaluation_details = Details()
    Details.state_machine_details.definition = json.dumps(definition)
    first = worker._get_evaluation_entrypoint()
    second = worker._get_evaluation_entrypoint()
    assert first is second  # no Map or Parallel: executions share the program
    assert first is stepfunctions.parsed_program(json.dumps(definition))


def test_a_template_log_group_adopts_the_group_an_early_invocation_created(
    aws: boto3.Session,
) -> None:
    # moto's Lambda makes /aws/lambda/<name> at its first invocation; the stack's own group,
    # created later (the custom resource runs during the deploy), used to fail the deploy.
    logs = aws.client("logs")
    name = "/aws/lambda/adopted-early"
    logs.create_log_group(logGroupName=name)
    template = {
        "Resources": {
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": name,
                    "RetentionInDays": 7,
                    "Tags": [{"Key": "owner", "Value": "stepauth"}],
                },
            }
        }
    }
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(StackName="log-group-adoption", TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName="log-group-adoption")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(name, 7)]
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"owner": "stepauth"}
