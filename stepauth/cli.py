"""The ``stepauth`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def _local(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud, LocalCloudSettings

    settings = LocalCloudSettings(
        host=args.host,
        gateway_port=args.port,
        aws_port=args.aws_port,
        region=args.region,
        stack_name=args.stack_name,
    )
    cloud = LocalCloud(settings)
    try:
        cloud.start()
    except RuntimeError as error:
        print(f"stepauth local: {error}", file=sys.stderr)
        return 1
    print(f"stepauth API        {settings.gateway_url}")
    print(f"local AWS endpoint  {settings.aws_endpoint}  (aws --endpoint-url …)")
    print("Ctrl-C to stop.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    cloud.stop()
    return 0


def _keys_init(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from steps.core.keyset_admin import initialise_signing_keys

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    client = session.client("secretsmanager", endpoint_url=args.endpoint_url)
    secret_id = args.secret_id or f"{args.stack_name}/signing-keys"
    try:
        kid = initialise_signing_keys(client, secret_id)
    except (BotoCoreError, ClientError) as error:
        print(f"stepauth keys init: {error}", file=sys.stderr)
        return 1
    print(f"signing keys ready in {secret_id}; active key id {kid}")
    return 0


def _add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url", help="AWS endpoint (the local cloud: http://127.0.0.1:4566)"
    )
    parser.add_argument("--profile", help="AWS profile name")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--stack-name", default="stepauth", help="stack name (default stepauth)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepauth", description="stepauth: serverless authentication on Step Functions."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser(
        "local",
        help="run the whole service on the embedded local cloud",
        description="Synthesize the CDK app, deploy it into the embedded local cloud (moto) and "
        "serve the API. Binds to 127.0.0.1 unless --host says otherwise.",
    )
    local.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    local.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    local.add_argument(
        "--aws-port", type=int, default=4566, help="local AWS endpoint port (default 4566)"
    )
    local.add_argument("--region", default="us-east-1", help="region name (default us-east-1)")
    local.add_argument("--stack-name", default="stepauth", help="stack name (default stepauth)")
    local.set_defaults(run=_local)

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(
        dest="keys_command", required=True
    )
    init = keys.add_parser(
        "init",
        help="write a first Ed25519 key set into the stack's secret (once, after deploy)",
        description="Writes a generated Ed25519 JWK set into the signing-keys secret unless it "
        "already holds a valid one. Run once after the first deploy to AWS; the local cloud "
        "does it by itself.",
    )
    _add_aws_options(init)
    init.add_argument("--secret-id", help="secret name or ARN (default STACK/signing-keys)")
    init.set_defaults(run=_keys_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
