"""The local cloud runs the template's custom resources as CloudFormation does: the stack's
SigningKeysReady writes the first signing keys, and a FAILED answer fails the stack (moto
5.2.5 alone would give the Lambda an unreachable response URL and ignore a failure)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from localcloud.cloud import LocalCloud
from localcloud.deploy import ACCOUNT_ID, _wait_for_stack
from steps.core.signing_keys import parse_key_set


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
