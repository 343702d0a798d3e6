"""The embedded local cloud: moto on one port, the stack deployed into it, the gateway on another.

Everything runs in one process so that the real handlers run in-process (see ``patches``).
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import patches
from .deploy import (
    PROJECT_ROOT,
    CloudAssembly,
    DeployedStack,
    deploy,
    initialise_signing_keys,
    synthesize,
)
from .streams import LocalStreams

LOG = logging.getLogger("stepauth.localcloud")


# CDK context the local stack is synthesized with. The authorizer result cache is off locally so
# that a revoked token is refused at once (on AWS it is the configured bound, 300 s by default).
LOCAL_CONTEXT: dict[str, Any] = {"authorizer_cache_ttl_seconds": 0}


@dataclass(frozen=True)
class LocalCloudSettings:
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    aws_port: int = 4566
    region: str = "us-east-1"
    stack_name: str = "stepauth"
    synth_dir: Path = PROJECT_ROOT / ".build" / "local-cdk.out"
    context: dict[str, Any] = field(default_factory=lambda: dict(LOCAL_CONTEXT))
    #: Longest wait of the stream poller between writes (a write wakes it at once).
    stream_poll_seconds: float = 0.25
    #: How often Time to Live deletes expired items (None: only when ``streams.sweep()`` is
    #: called). DynamoDB itself deletes within days of expiry; readers never rely on it.
    ttl_sweep_seconds: float | None = 60.0

    @property
    def client_host(self) -> str:
        # A wildcard bind is reached through loopback.
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.client_host}:{self.aws_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.client_host}:{self.gateway_port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


class LocalCloud:
    """Start, use and stop the whole stack on this machine."""

    def __init__(self, settings: LocalCloudSettings | None = None) -> None:
        self.settings = settings or LocalCloudSettings()
        self.stack: DeployedStack | None = None
        self._moto: Any = None
        self._http: Any = None
        self.gateway: Any = None
        self.streams: LocalStreams | None = None

    def configure_environment(self) -> None:
        """Process-wide AWS settings: every client in this process talks to the local cloud."""
        s = self.settings
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - the local cloud's dummy key
                "AWS_DEFAULT_REGION": s.region,
                "AWS_REGION": s.region,
                "AWS_ENDPOINT_URL": s.aws_endpoint,
                # moto's Step Functions interpreter calls services on this port.
                "MOTO_PORT": str(s.aws_port),
                # botocore would prefix the endpoint with the account id for streams.
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            }
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)

    def start(self, assembly: CloudAssembly | None = None) -> LocalCloud:
        """Deploys ``assembly`` (synthesized now when not given) and starts serving."""
        import boto3
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from .gateway import LocalGateway, serve

        s = self.settings
        for port in (s.aws_port, s.gateway_port):
            if _port_in_use(s.host, port):
                raise RuntimeError(
                    f"port {port} on {s.host} is already in use; stop what holds it or pick "
                    "another port (--aws-port / --port)"
                )
        self.configure_environment()
        patches.apply()
        if assembly is None:
            LOG.info("synthesizing the CDK app")
            assembly = synthesize(s.synth_dir, s.context)
        # moto logs every request and warns about resource types the gateway serves itself.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("moto").setLevel(logging.ERROR)
        # The interpreter logs each failed state with its whole parsed definition; the execution
        # history already tells operators which state failed and why.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        self._moto = ThreadedMotoServer(ip_address=s.host, port=s.aws_port, verbose=False)
        self._moto.start()
        session = boto3.Session(region_name=s.region)
        LOG.info("deploying stack %s into the local cloud at %s", s.stack_name, s.aws_endpoint)
        self.stack = deploy(assembly, session, s.stack_name)
        initialise_signing_keys(session, self.stack)
        # On AWS the operator verifies the sender identity in SES (README); locally it is done
        # here so that the captured mail (GET /_aws/ses) flows at once.
        sender = self.stack.outputs.get("EmailSender")
        if sender:
            session.client("sesv2").create_email_identity(EmailIdentity=sender)
        # Stream records and TTL: delivered and swept off the request threads (streams.py).
        self.streams = LocalStreams(
            self.stack.account_id,
            s.region,
            poll_seconds=s.stream_poll_seconds,
            sweep_seconds=s.ttl_sweep_seconds,
        ).start()
        self.gateway = LocalGateway(self.stack, session)
        self._http = serve(self.gateway, s.host, s.gateway_port)
        LOG.info("stepauth is answering on %s", s.gateway_url)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self.streams is not None:
            self.streams.stop()
            self.streams = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
