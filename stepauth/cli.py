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
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
