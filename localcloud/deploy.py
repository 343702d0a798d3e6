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
import threading
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
    answer_custom_resources_locally(cloudformation.meta.endpoint_url)
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
    described = _wait_for_stack(cloudformation, stack_name)
    if described["StackStatus"] != "CREATE_COMPLETE":
        reason = described.get("StackStatusReason") or "no reason given"
        raise RuntimeError(f"stack {stack_name} ended in {described['StackStatus']}: {reason}")
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


#: How long a deploy waits for the template's custom resources to answer (AWS waits an hour).
CUSTOM_RESOURCE_TIMEOUT_SECONDS = 60.0


def answer_custom_resources_locally(endpoint_url: str) -> None:
    """Close moto's gaps with ``Custom::`` resources so that the template's run as on AWS.

    moto 5.2.5 invokes the resource's Lambda with the Create event (on a thread), but gives it a
    ``ResponseURL`` on ``http://host.docker.internal`` (for Lambdas in Docker; here they run
    in-process, so it must be the local endpoint), and ignores a ``FAILED`` answer, which
    leaves the stack in ``CREATE_IN_PROGRESS`` for ever; on AWS the stack fails with the
    resource's reason. Both are fixed here, once per process.
    """
    from urllib.parse import urlsplit

    from moto import settings
    from moto.cloudformation.responses import CloudFormationResponse

    parts = urlsplit(endpoint_url)
    host = f"{parts.scheme}://{parts.hostname}"
    settings.moto_server_host = lambda: host  # type: ignore[assignment]
    if getattr(CloudFormationResponse, "_stepauth_failed_answers", False):
        return
    original = CloudFormationResponse.process_cfn_response

    def process_cfn_response(self: Any) -> Any:
        if self._get_param("Status") == "FAILED":
            stack = self.cloudformation_backend.get_stack(self._get_param("StackId"))
            reason = str(self._get_param("Reason") or "a custom resource failed")
            logical_id = self._get_param("LogicalResourceId")
            stack.status = "CREATE_FAILED"
            stack.status_reason = f"{logical_id}: {reason}"
            stack._add_stack_event("CREATE_FAILED", resource_status_reason=stack.status_reason)
            return 200, {"status": 200}, json.dumps("{}")
        return original(self)

    CloudFormationResponse.process_cfn_response = process_cfn_response  # type: ignore[method-assign]
    CloudFormationResponse._stepauth_failed_answers = True  # type: ignore[attr-defined]
    _serialize_stack_creation()


#: Held while moto creates a stack's resources or checks whether they are all created.
_STACK_CREATION_LOCK = threading.RLock()


def _serialize_stack_creation() -> None:
    """moto 5.2.5 checks a stack's readiness when a custom resource answers (on the answering
    thread) by walking its resource map, and walking it creates every resource not created yet:
    an answer that arrives while ``create_stack`` is still creating resources created some of
    them twice (``ResourceAlreadyExistsException`` for a log group, ``ResourceExistsException``
    for a secret, and a failed deploy). Creation and the readiness check take turns here."""
    from moto.cloudformation.models import Stack

    def serialized(original: Any) -> Any:
        def method(self: Any) -> Any:
            with _STACK_CREATION_LOCK:
                return original(self)

        method.__wrapped__ = original  # type: ignore[attr-defined]
        return method

    Stack.create_resources = serialized(Stack.create_resources)  # type: ignore[method-assign]
    Stack.verify_readiness = serialized(Stack.verify_readiness)  # type: ignore[method-assign]


def _settle_early_answers(region: str, stack_name: str) -> None:
    """moto 5.2.5 completes a stack when a custom resource's answer arrives after the last
    resource was created; an answer that arrives while later resources are still being created
    (a big template, a busy machine) is recorded but never completes the stack, which then stays
    CREATE_IN_PROGRESS for ever. On AWS the stack completes once every resource has: so here,
    re-check readiness while waiting."""
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[ACCOUNT_ID][region]
    for stack in list(backend.stacks.values()):
        if stack.name == stack_name and stack.status == "CREATE_IN_PROGRESS":
            stack.verify_readiness()


def _wait_for_stack(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    """The stack once it left CREATE_IN_PROGRESS (its custom resources answer on threads)."""
    import time

    deadline = time.monotonic() + CUSTOM_RESOURCE_TIMEOUT_SECONDS
    while True:
        _settle_early_answers(cloudformation.meta.region_name, stack_name)
        described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if described["StackStatus"] != "CREATE_IN_PROGRESS" or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.05)  # an answer from another thread, not the passing of time, ends this
