"""Deploys the synthesized CDK template into the local cloud, as ``cdk deploy`` would into AWS.

Synthesis writes a cloud assembly; deployment uploads its file assets to the bootstrap bucket,
records the bootstrap version parameter and creates the CloudFormation stack. Nothing about the
table, workflows or routes is restated here: they come from the template.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACK_ID = "StepAuth"
EXAMPLE_STACK_ID = "HelloApi"
BOOTSTRAP_VERSION = "30"
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class CloudAssembly:
    """The synthesized output the local cloud deploys."""

    directory: Path
    stack_id: str = STACK_ID

    @property
    def template_path(self) -> Path:
        return self.directory / f"{self.stack_id}.template.json"

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    def file_assets(self) -> dict[str, Any]:
        manifest = json.loads((self.directory / f"{self.stack_id}.assets.json").read_text())
        return manifest.get("files", {})


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> CloudAssembly:
    """Runs the CDK app in a child process (jsii keeps a Node runtime per process).

    Bundling is skipped: locally the handlers run in-process from the project's sources.
    """
    context = {"aws:cdk:bundling-stacks": [], **(context or {})}
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "STEPAUTH_SYNTH_OUTDIR": str(outdir),
        "STEPAUTH_SYNTH_CONTEXT": json.dumps(context),
    }
    code = (
        "import json, os\n"
        "from cdk.app import build_app\n"
        "build_app(os.environ['STEPAUTH_SYNTH_OUTDIR'],"
        " json.loads(os.environ['STEPAUTH_SYNTH_CONTEXT'])).synth()\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"CDK synthesis failed:\n{result.stderr.strip()[-4000:]}")
    return CloudAssembly(outdir)


@dataclass
class DeployedStack:
    """What the stack became in the local cloud."""

    name: str
    template: dict[str, Any]
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    region: str
    account_id: str = ACCOUNT_ID
    extra: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Resolves intrinsic functions (Ref, GetAtt, Join, Sub …) against the deployed stack."""
        from moto.cloudformation.models import cloudformation_backends
        from moto.cloudformation.parsing import clean_json

        backend = cloudformation_backends[self.account_id][self.region]
        stack = next(s for s in backend.stacks.values() if s.name == self.name)
        return clean_json(value, stack.resource_map)

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }


def _asset_zip(packages: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages:
            for path in sorted((PROJECT_ROOT / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(PROJECT_ROOT))
    return buffer.getvalue()


def _handler_packages(template: dict[str, Any]) -> tuple[str, ...]:
    handlers = [
        resource["Properties"].get("Handler", "")
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    return tuple(sorted({handler.split(".")[0] for handler in handlers if handler}))


def deploy(
    assembly: CloudAssembly,
    session: Any,
    stack_name: str,
    parameters: dict[str, str] | None = None,
) -> DeployedStack:
    """Creates (or replaces) the stack in the local cloud reached through ``session``.

    ``parameters`` are the template's parameters, as ``cdk deploy --parameters`` passes them
    (the local cloud passes ``IssuerUrl``: its gateway's URL).
    """
    region = session.region_name
    template = assembly.template()
    s3 = session.client("s3")
    # Locally the handlers run from the project, so the uploaded code is the project's packages.
    code_zip = _asset_zip(_handler_packages(template))
    for asset in assembly.file_assets().values():
        for destination in asset["destinations"].values():
            bucket = (
                destination["bucketName"]
                .replace("${AWS::AccountId}", ACCOUNT_ID)
                .replace("${AWS::Region}", region)
            )
            s3.create_bucket(Bucket=bucket)
            if asset["source"].get("packaging") == "zip":
                body = code_zip
            else:
                body = (assembly.directory / asset["source"]["path"]).read_bytes()
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
    session.client("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version",
        Value=BOOTSTRAP_VERSION,
        Type="String",
        Overwrite=True,
    )
    cloudformation = session.client("cloudformation")
    existing = {
        s["StackName"]
        for s in cloudformation.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    if stack_name in existing:
        cloudformation.delete_stack(StackName=stack_name)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in (parameters or {}).items()
            if key in template.get("Parameters", {})
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} ended in {described['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    physical_ids = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r
    }
    return DeployedStack(
        name=stack_name,
        template=template,
        outputs=outputs,
        physical_ids=physical_ids,
        region=region,
    )


def initialise_signing_keys(session: Any, stack: DeployedStack) -> str:
    """The local equivalent of ``stepauth keys init``: a generated key in the stack's secret."""
    from steps.core.keyset_admin import initialise_signing_keys as initialise
    from steps.core.table import Table

    return initialise(
        session.client("secretsmanager"),
        stack.outputs["SigningKeysSecretArn"],
        Table.from_client(session.client("dynamodb"), stack.outputs["TableName"]),
        algorithm=stack.outputs.get("TokenSigningAlgorithm", "ES256"),
    )
