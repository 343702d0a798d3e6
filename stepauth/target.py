"""Which AWS the command line talks to: an explicit endpoint, a profile, or the local cloud.

Like the AWS CLI, ``--endpoint-url``, ``--profile`` and ``--region`` win; with none of them and no
``AWS_ENDPOINT_URL`` in the environment, a running local cloud on 127.0.0.1:4566 is the default.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_REGION = "us-east-1"


class TargetError(Exception):
    """A readable one-line reason why the target cannot be used."""


def _local_cloud_running(host: str = "127.0.0.1", port: int = 4566) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class Target:
    endpoint_url: str | None
    profile: str | None
    region: str | None
    stack_name: str

    @classmethod
    def from_args(cls, args: Any) -> Target:
        endpoint = getattr(args, "endpoint_url", None)
        profile = getattr(args, "profile", None)
        region = getattr(args, "region", None)
        if not (endpoint or profile or os.environ.get("AWS_ENDPOINT_URL")):
            if _local_cloud_running():
                endpoint = LOCAL_ENDPOINT
        return cls(endpoint, profile, region, getattr(args, "stack_name", "stepauth"))

    @property
    def is_local(self) -> bool:
        return bool(self.endpoint_url)

    @cached_property
    def session(self) -> Any:
        import boto3

        if self.is_local:
            # The local cloud accepts any credentials; do not make people configure some.
            return boto3.Session(
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                region_name=self.region or os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
            )
        return boto3.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str) -> Any:
        from botocore.config import Config

        return self.session.client(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(
                inject_host_prefix=not self.is_local,
                retries={"max_attempts": 2},
                connect_timeout=3,
            ),
        )

    @cached_property
    def outputs(self) -> dict[str, str]:
        """The stack's outputs: table name, secret, state machine ARNs …"""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)
        except ClientError as error:
            raise TargetError(
                f"stack {self.stack_name} not found ({error.response['Error'].get('Message')})"
            ) from None
        except BotoCoreError as error:
            where = self.endpoint_url or "AWS"
            raise TargetError(f"cannot reach {where}: {error}") from None
        outputs = stacks["Stacks"][0].get("Outputs", [])
        return {o["OutputKey"]: o["OutputValue"] for o in outputs}

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise TargetError(f"stack {self.stack_name} has no output {key}") from None

    def table(self) -> Any:
        from steps.core.table import Table

        return Table.from_client(self.client("dynamodb"), self.output("TableName"))
