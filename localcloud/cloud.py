"""The embedded local cloud: moto on one port, the stack deployed into it, the gateway on another.

Everything runs in one process so that the real handlers run in-process (see ``patches``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import iam, inprocess, patches
from .deploy import (
    EXAMPLE_STACK_ID,
    PROJECT_ROOT,
    CloudAssembly,
    DeployedStack,
    deploy,
    synthesize,
)
from .retention import RetentionSettings, RetentionSweeper
from .streams import LocalStreams

LOG = logging.getLogger("stepauth.localcloud")

#: Where ``stop`` writes the IAM grants this cloud's calls used (tests run it as a child).
USED_GRANTS_FILE_VARIABLE = "STEPAUTH_USED_GRANTS_FILE"


# CDK context the local stack is synthesized with. The authorizer result cache is off locally so
# that a revoked token is refused at once (on AWS it is the configured bound, 300 s by default).
# The example "hello" API is synthesized too (served on its own port), with its client.
LOCAL_CONTEXT: dict[str, Any] = {
    "authorizer_cache_ttl_seconds": 0,
    "example": True,
    "clients": [
        {"client_id": "stepauth", "audience": "stepauth-api", "scopes": []},
        {"client_id": "hello", "audience": "hello-api", "scopes": ["hello.read", "hello.write"]},
    ],
}


LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether a bind address is reachable from this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LocalCloudSettings:
    #: Where the API binds (``make dev HOST=0.0.0.0`` shares it with the network).
    host: str = LOOPBACK
    #: Where the local AWS endpoint binds. It is unauthenticated and holds the private signing
    #: keys, so it stays on loopback whatever ``host`` is, unless asked for separately.
    aws_host: str = LOOPBACK
    gateway_port: int = 8080
    aws_port: int = 4566
    #: Where the example "hello" API answers (None: it is not deployed).
    example_port: int | None = None
    region: str = "us-east-1"
    stack_name: str = "stepauth"
    synth_dir: Path = PROJECT_ROOT / ".build" / "local-cdk.out"
    context: dict[str, Any] = field(default_factory=lambda: dict(LOCAL_CONTEXT))
    #: Longest wait of the stream poller between writes (a write wakes it at once).
    stream_poll_seconds: float = 0.25
    #: How often Time to Live deletes expired items (None: only when ``streams.sweep()`` is
    #: called). DynamoDB itself deletes within days of expiry; readers never rely on it.
    ttl_sweep_seconds: float | None = 60.0
    #: Calls made inside this process reach moto in-process, not over loopback HTTP
    #: (``localcloud/inprocess.py``); the server on ``aws_port`` still serves other clients.
    in_process_aws: bool = True
    #: What the local cloud keeps of past executions and logs (``localcloud/retention.py``).
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    #: How long the API waits for the rest of a started request before answering 408.
    read_timeout_seconds: float = 10.0
    #: Enforce the template's IAM policies on every call made as a role (localcloud/iam.py).
    enforce_iam: bool = True
    #: Once deployed, hide the objects alive then (moto's and botocore's models, the parsed
    #: programs: ~400k long-lived objects) from the cyclic garbage collector (``gc.freeze``) until
    #: ``stop``. Each full collection otherwise walks all of them (~330 ms, ~1.7 ms per refresh
    #: on average, charged to whichever handler triggers it), a cost a Lambda's small heap does
    #: not have. Reference counting still frees them when they die.
    freeze_deployed_heap: bool = True

    @property
    def client_host(self) -> str:
        return _client_host(self.host)

    @property
    def aws_endpoint(self) -> str:
        return f"http://{_client_host(self.aws_host)}:{self.aws_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.client_host}:{self.gateway_port}"

    @property
    def example_url(self) -> str:
        return f"http://{self.client_host}:{self.example_port}"


def _client_host(bind_host: str) -> str:
    # A wildcard bind is reached through loopback.
    return LOOPBACK if bind_host in ("0.0.0.0", "::", "") else bind_host  # noqa: S104


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
        self.retention: RetentionSweeper | None = None
        self.example_stack: DeployedStack | None = None
        self.example_gateway: Any = None
        self._example_http: Any = None

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
        for host, port in (
            (s.aws_host, s.aws_port),
            (s.host, s.gateway_port),
            (s.host, s.example_port),
        ):
            if port is None:
                continue
            if _port_in_use(host, port):
                raise RuntimeError(
                    f"port {port} on {host} is already in use; stop what holds it or pick "
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
        if not is_loopback(s.aws_host):
            LOG.warning(
                "the local AWS endpoint listens on %s: anyone who can reach it can read and "
                "change everything, including the private signing keys",
                s.aws_host,
            )
        self._moto = ThreadedMotoServer(ip_address=s.aws_host, port=s.aws_port, verbose=False)
        self._moto.start()
        if s.in_process_aws:
            inprocess.serve_in_process(s.client_host, s.aws_port)
            boto3.DEFAULT_SESSION = None  # a default session made earlier lacks the handler
        session = boto3.Session(region_name=s.region)
        LOG.info("deploying stack %s into the local cloud at %s", s.stack_name, s.aws_endpoint)
        # The template's SigningKeysReady custom resource writes the first signing keys, as
        # it does on AWS (deploy runs it). The issuer (iss, discovery) is the URL this gateway
        # answers on, as the stage URL is on AWS.
        self.stack = deploy(assembly, session, s.stack_name, {"IssuerUrl": s.gateway_url})
        # On AWS the operator verifies the sender identity in SES (README); locally it is done
        # here so that the captured mail (GET /_aws/ses) flows at once.
        sender = self.stack.outputs.get("EmailSender")
        if sender:
            session.client("sesv2").create_email_identity(EmailIdentity=sender)
        iam.enable(iam.PolicyEvaluator.from_stack(self.stack) if s.enforce_iam else None)
        # Stream records and TTL: delivered and swept off the request threads (streams.py).
        self.streams = LocalStreams(
            self.stack.account_id,
            s.region,
            poll_seconds=s.stream_poll_seconds,
            sweep_seconds=s.ttl_sweep_seconds,
        ).start()
        self.retention = RetentionSweeper(s.retention).start()
        self.gateway = LocalGateway(self.stack, session)
        self._http = serve(
            self.gateway, s.host, s.gateway_port, read_timeout_seconds=s.read_timeout_seconds
        )
        LOG.info("stepauth is answering on %s", s.gateway_url)
        example = CloudAssembly(assembly.directory, EXAMPLE_STACK_ID)
        if s.example_port is not None and example.template_path.exists():
            # Deployed after stepauth, as on AWS: its JWT authorizer reads stepauth's discovery
            # document and its Lambda authorizer is stepauth's function.
            self.example_stack = deploy(example, session, f"{s.stack_name}-hello")
            self.example_gateway = LocalGateway(self.example_stack, session)
            self._example_http = serve(self.example_gateway, s.host, s.example_port)
            LOG.info("the example hello API is answering on %s", s.example_url)
        if s.freeze_deployed_heap:
            gc.collect()
            gc.freeze()
        return self

    def stop(self) -> None:
        # A test suite running this cloud in a child process counts the grants it used.
        used_grants_file = os.environ.get(USED_GRANTS_FILE_VARIABLE)
        evaluator = iam.evaluator()
        if used_grants_file and evaluator is not None:
            Path(used_grants_file).write_text(json.dumps(evaluator.used_records()))
        for server in (self._example_http, self._http):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._http = self._example_http = None
        if self.streams is not None:
            self.streams.stop()
            self.streams = None
        if self.retention is not None:
            self.retention.stop()
            self.retention = None
        inprocess.stop_serving(self.settings.aws_port)
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self.settings.freeze_deployed_heap:
            # The stopped cloud's cycles become collectable again (another cloud still running
            # in this process only loses the saving).
            gc.unfreeze()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
