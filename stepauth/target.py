"""Which AWS the command line talks to: an explicit endpoint, a profile, or the local cloud.

Resolved like the AWS CLI, first match wins:

1. ``--endpoint-url``, then ``--local`` (the local cloud at 127.0.0.1:4566), then
   ``AWS_ENDPOINT_URL``;
2. AWS itself when anything names it: ``--profile``, ``--region``, or one of
   ``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE``, ``AWS_ACCESS_KEY_ID``, ``AWS_REGION``,
   ``AWS_DEFAULT_REGION`` in the environment;
3. with nothing set, a read-only command uses a local cloud running on 127.0.0.1:4566, and AWS
   otherwise. A command that changes anything (keys init/rotate, users disable/delete …) never
   guesses from an open port: it goes to AWS unless ``--local`` or an endpoint says otherwise.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_REGION = "us-east-1"


#: Environment variables that point the AWS CLI (and boto3) at an AWS account or region.
AWS_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


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
    def from_args(cls, args: Any, *, changes_something: bool = True) -> Target:
        """The target named by the arguments and the environment (see the module docstring).

        ``changes_something`` is False only for read-only commands: they alone may pick the
        local cloud because something listens on its port.
        """
        endpoint = getattr(args, "endpoint_url", None)
        profile = getattr(args, "profile", None)
        region = getattr(args, "region", None)
        stack_name = getattr(args, "stack_name", None) or "stepauth"
        if not endpoint and getattr(args, "local", False):
            endpoint = LOCAL_ENDPOINT
        if not endpoint:  # as in the AWS CLI, whatever the profile
            endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        named = endpoint or profile or region or any(os.environ.get(n) for n in AWS_ENVIRONMENT)
        if not named and not changes_something and _local_cloud_running():
            endpoint = LOCAL_ENDPOINT
        return cls(endpoint, profile, region, stack_name)

    @property
    def is_local(self) -> bool:
        return bool(self.endpoint_url)

    @cached_property
    def session(self) -> Any:
        import boto3

        if self.is_local and not self.profile:
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
