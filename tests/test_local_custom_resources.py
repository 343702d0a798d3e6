"""The local cloud runs the template's custom resources as CloudFormation does: the stack's
SigningKeysReady writes the first signing keys, and a FAILED answer fails the stack (moto
5.2.5 alone would give the Lambda an unreachable response URL and ignore a failure)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import ACCOUNT_ID, _wait_for_stack
from steps.core.signing_keys import parse_key_set
from steps.core.table import Table, public_keys_key


def _clients(cloud: LocalCloud) -> tuple[Any, Any]:
    session = boto3.Session(region_name=cloud.settings.region)
    return session.client("cloudformation"), session.client("secretsmanager")


def test_the_deploy_itself_writes_the_first_signing_keys(local_cloud: LocalCloud) -> None:
    cloudformation, secrets = _clients(local_cloud)
    resources = cloudformation.describe_stack_resources(StackName=local_cloud.stack.name)
    (ready,) = [
        r for r in resources["StackResources"] if r.get("LogicalResourceId") == "SigningKeysReady"
    ]
    assert ready["ResourceStatus"] == "CREATE_COMPLETE"
    secret = secrets.get_secret_value(SecretId=local_cloud.stack.outputs["SigningKeysSecretArn"])
    assert parse_key_set(secret["SecretString"]).active.kid  # a real key set, not the placeholder


def test_a_failed_custom_resource_fails_the_stack(local_cloud: LocalCloud) -> None:
    cloudformation, _ = _clients(local_cloud)
    template = local_cloud.stack.template
    (function_id,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == "steps.init_signing_keys.handler"
    ]
    original = template["Resources"][function_id]["Properties"]
    role = local_cloud.stack.physical_ids[original["Role"]["Fn::GetAtt"][0]]
    failing = {
        "Resources": {
            "Initialiser": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "failing-init-signing-keys",
                    "Handler": original["Handler"],
                    "Runtime": original["Runtime"],
                    "Code": original["Code"],
                    "Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}",
                },
            },
            "Ready": {
                "Type": "Custom::SigningKeys",
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["Initialiser", "Arn"]},
                    "SecretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:nope-AbCd",
                    "TableName": "no-such-table",
                },
            },
        }
    }
    cloudformation.create_stack(StackName="failing-keys", TemplateBody=json.dumps(failing))
    try:
        described = _wait_for_stack(cloudformation, "failing-keys")
        assert described["StackStatus"] == "CREATE_FAILED"
    finally:
        cloudformation.delete_stack(StackName="failing-keys")


def test_an_answer_that_arrived_while_later_resources_were_created_completes_the_stack(
    local_cloud: LocalCloud,
) -> None:
    """moto records such an answer but never completes the stack; the deploy's wait does."""
    from moto.cloudformation.models import cloudformation_backends

    cloudformation, _ = _clients(local_cloud)
    template = local_cloud.stack.template
    (function_id,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == "steps.init_signing_keys.handler"
    ]
    original = template["Resources"][function_id]["Properties"]
    role = local_cloud.stack.physical_ids[original["Role"]["Fn::GetAtt"][0]]
    silent = {
        "Resources": {
            "Silent": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "silent-custom-resource",
                    # answers nothing: the test plays the answer that came too early
                    "Handler": "tests.localcloud_handlers.event_recorder",
                    "Runtime": original["Runtime"],
                    "Code": original["Code"],
                    "Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}",
                },
            },
            "Ready": {
                "Type": "Custom::Anything",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["Silent", "Arn"]}},
            },
        }
    }
    cloudformation.create_stack(StackName="early-answer", TemplateBody=json.dumps(silent))
    try:
        backend = cloudformation_backends[ACCOUNT_ID][local_cloud.settings.region]
        (stack,) = [s for s in backend.stacks.values() if s.name == "early-answer"]
        assert stack.status == "CREATE_IN_PROGRESS"
        stack.get_custom_resource("Ready").set_data({})  # recorded, as during the creation
        assert stack.status == "CREATE_IN_PROGRESS"
        assert _wait_for_stack(cloudformation, "early-answer")["StackStatus"] == "CREATE_COMPLETE"
    finally:
        cloudformation.delete_stack(StackName="early-answer")


def test_an_answer_during_the_creation_waits_for_it_and_creates_nothing_twice(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto checks a stack's readiness when the answer arrives, by walking its resource map,
    which creates any resource not created yet: an answer arriving while the resources after
    the custom resource were still being created made them twice (a failed deploy)."""
    from moto.cloudformation import parsing
    from moto.cloudformation.responses import CloudFormationResponse

    answered = threading.Event()
    process_answer = CloudFormationResponse.process_cfn_response

    def noting_the_answer(self: Any) -> Any:
        answered.set()
        return process_answer(self)

    create = parsing.parse_and_create_resource
    created: list[str] = []

    def create_after_the_answer(logical_id: str, *args: Any, **kwargs: Any) -> Any:
        if logical_id == "Late":
            assert answered.wait(timeout=60), "the custom resource never answered"
            created.append(logical_id)
        return create(logical_id, *args, **kwargs)

    monkeypatch.setattr(CloudFormationResponse, "process_cfn_response", noting_the_answer)
    monkeypatch.setattr(parsing, "parse_and_create_resource", create_after_the_answer)
    cloudformation, _ = _clients(local_cloud)
    template = local_cloud.stack.template
    (function_id,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == "steps.init_signing_keys.handler"
    ]
    original = template["Resources"][function_id]["Properties"]
    role = local_cloud.stack.physical_ids[original["Role"]["Fn::GetAtt"][0]]
    group = f"/test/answered-early-{uuid.uuid4().hex[:8]}"
    racing = {
        "Resources": {
            "Answering": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": f"answering-{uuid.uuid4().hex[:8]}",
                    "Handler": "tests.localcloud_handlers.custom_resource_success",
                    "Runtime": original["Runtime"],
                    "Code": original["Code"],
                    "Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}",
                },
            },
            "Ready": {
                "Type": "Custom::Anything",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["Answering", "Arn"]}},
            },
            "Late": {
                "Type": "AWS::Logs::LogGroup",
                "DependsOn": "Ready",
                "Properties": {"LogGroupName": group},
            },
        }
    }
    cloudformation.create_stack(StackName="answered-early", TemplateBody=json.dumps(racing))
    try:
        described = _wait_for_stack(cloudformation, "answered-early")
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        assert created == ["Late"]
    finally:
        cloudformation.delete_stack(StackName="answered-early")


class _ResponseCatcher(http.server.BaseHTTPRequestHandler):
    """CloudFormation's pre-signed response URL, as the custom resource's Lambda sees it."""

    answers: list[dict[str, Any]] = []

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_the_initialiser_replaces_a_placeholder_under_its_own_least_privilege_role(
    local_cloud: LocalCloud,
) -> None:
    """The deploy runs the initialiser before IAM is enforced; this invokes it again as
    CloudFormation would, as its role under the template's policy, on a placeholder secret:
    every grant it holds (read and write the secret, read and write the public keys) is used
    and suffices. The original keys are put back afterwards (tokens of other tests stay valid).
    """
    session = boto3.Session(region_name=local_cloud.settings.region)
    secrets = session.client("secretsmanager")
    table = Table(session.client("dynamodb"), local_cloud.stack.outputs["TableName"])
    secret_arn = local_cloud.stack.outputs["SigningKeysSecretArn"]
    original_secret = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    original_public = table.get(public_keys_key(), consistent=True)
    (function_name,) = [
        name
        for logical_id, name in local_cloud.stack.physical_ids.items()
        if local_cloud.stack.template["Resources"][logical_id]["Type"] == "AWS::Lambda::Function"
        and local_cloud.stack.template["Resources"][logical_id]["Properties"].get("Handler")
        == "steps.init_signing_keys.handler"
    ]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ResponseCatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _ResponseCatcher.answers.clear()
    try:
        secrets.put_secret_value(SecretId=secret_arn, SecretString='{"placeholder": true}')
        table.delete(public_keys_key())
        event = {
            "RequestType": "Update",
            "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/answer",
            "StackId": "stack",
            "RequestId": "request",
            "LogicalResourceId": "SigningKeysReady",
            "PhysicalResourceId": "SigningKeysReady-keys",
            "ResourceProperties": {
                "SecretArn": secret_arn,
                "TableName": local_cloud.stack.outputs["TableName"],
                "Algorithm": local_cloud.stack.outputs["TokenSigningAlgorithm"],
            },
        }
        session.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
        (answer,) = _ResponseCatcher.answers
        assert answer["Status"] == "SUCCESS", answer
        fresh = parse_key_set(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
        assert fresh.active.kid == answer["Data"]["ActiveKid"]
        assert table.get(public_keys_key(), consistent=True) is not None
    finally:
        server.shutdown()
        secrets.put_secret_value(SecretId=secret_arn, SecretString=original_secret)
        if original_public is not None:
            table.put(original_public)
