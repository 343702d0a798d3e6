"""The ``stepauth`` command line: run the local cloud, manage keys and users."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from .target import Target, TargetError


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


# -- keys -------------------------------------------------------------------------------------


def _keys_init(args: argparse.Namespace, target: Target) -> int:
    from steps.core.keyset_admin import initialise_signing_keys

    kid = initialise_signing_keys(
        target.client("secretsmanager"), target.output("SigningKeysSecretArn"), target.table()
    )
    print(f"signing keys ready; active key id {kid}")
    return 0


def _keys_rotate(args: argparse.Namespace, target: Target) -> int:
    from steps.core.keyset_admin import rotate_signing_keys

    kid = rotate_signing_keys(
        target.client("secretsmanager"),
        target.output("SigningKeysSecretArn"),
        target.table(),
        access_token_ttl_seconds=args.access_token_ttl,
    )
    print(f"new active key {kid}; tokens signed with the previous key verify until they expire")
    return 0


def _keys_list(args: argparse.Namespace, target: Target) -> int:
    from .keys import list_keys  # the published keys with their dates (stepauth/keys.py)

    return list_keys(args, target)


# -- users ------------------------------------------------------------------------------------


def _change_roles(args: argparse.Namespace, target: Target, add: bool) -> int:
    from steps.core.emails import normalise_email
    from steps.core.errors import InvalidRequest
    from steps.core.user_admin import grant_role, revoke_role

    try:
        email = normalise_email(args.email)
    except InvalidRequest as error:
        raise TargetError(str(error)) from None
    change = grant_role if add else revoke_role
    roles = change(target.table(), email, args.role)
    print(f"{email}: roles {', '.join(roles)} (effective in tokens issued from now on)")
    return 0


# -- parser -----------------------------------------------------------------------------------


def _aws_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (like the AWS CLI; default: the local cloud if running)"
    )
    group.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:4566")
    group.add_argument("--profile", help="AWS profile name")
    group.add_argument("--region", help="AWS region")
    group.add_argument("--stack-name", default="stepauth", help="stack name (default stepauth)")


def _with_target(command: Callable[[argparse.Namespace, Target], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        return command(args, Target.from_args(args))

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepauth", description="stepauth: serverless authentication on Step Functions."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    keys = commands.add_parser(
        "keys", help="signing keys: init, rotate, list", description="Manage the signing keys."
    ).add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys.add_parser(
        "init",
        help="write a first Ed25519 key set (once, after the first deploy)",
        description="Writes a generated Ed25519 JWK set into the stack's signing-keys secret "
        "and its public keys into the table, unless a valid set is there already. The local "
        "cloud does this by itself.",
    )
    _aws_options(init)
    init.set_defaults(run=_with_target(_keys_init))
    rotate = keys.add_parser(
        "rotate",
        help="add a new active key; the previous one keeps verifying until its tokens expire",
        description="Adds a new active signing key. Tokens signed with the previous key stay "
        "valid until they expire; keys retired longer ago than the access-token lifetime "
        "are dropped. Token issuers pick up the new key within 5 minutes.",
    )
    _aws_options(rotate)
    rotate.add_argument(
        "--access-token-ttl",
        type=int,
        default=900,
        help="the stack's access token lifetime in seconds (default 900)",
    )
    rotate.set_defaults(run=_with_target(_keys_rotate))
    listing = keys.add_parser("list", help="the published public keys, active first")
    _aws_options(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_with_target(_keys_list))

    users = commands.add_parser(
        "users", help="user administration", description="Administer users."
    ).add_subparsers(dest="users_command", required=True, metavar="ACTION")
    for name, add, text in (
        ("grant-role", True, "give a user a role (e.g. admin: how the first admin is made)"),
        ("revoke-role", False, "take a role away from a user"),
    ):
        change = users.add_parser(name, help=text, description=text.capitalize() + ".")
        _aws_options(change)
        change.add_argument("email", help="the user's email")
        change.add_argument("role", help="role name, e.g. admin")
        change.set_defaults(
            run=_with_target(lambda args, target, add=add: _change_roles(args, target, add))
        )
    _register_operator_commands(commands, users)
    _register_cost(commands)
    return parser


def _register_operator_commands(
    commands: argparse._SubParsersAction, users: argparse._SubParsersAction
) -> None:
    """executions, audit, users list|show|disable|enable|delete, sessions (operators' tools;
    see stepauth/executions.py, audit.py, users.py, sessions.py)."""
    from .audit import add_audit_commands
    from .executions import add_execution_commands
    from .lifecycle import add_lifecycle_commands
    from .sessions import add_session_commands
    from .users import add_user_commands

    add_execution_commands(commands, _aws_options, _with_target)
    add_audit_commands(commands, _aws_options, _with_target)
    add_user_commands(users, _aws_options, _with_target)
    add_session_commands(commands, _aws_options, _with_target)
    add_lifecycle_commands(commands, _aws_options, _with_target)


def _register_cost(commands: argparse._SubParsersAction) -> None:
    """``stepauth cost``: the monthly AWS bill and capacity plan (see ``stepauth/cost.py``)."""
    from .cost import add_cost_command

    add_cost_command(commands)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TargetError as error:
        print(f"stepauth: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (stepauth … | head): not an error
        sys.stdout = open(os.devnull, "w")  # Python flushes stdout at exit: not the pipe
        return 0
    except Exception as error:  # noqa: BLE001 - one readable line, never a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        from steps.core.errors import ClientError as StepAuthError

        if isinstance(error, StepAuthError):  # e.g. no such user, bad role name
            print(f"stepauth: {error}", file=sys.stderr)
            return 1
        if isinstance(error, ClientError):
            print(f"stepauth: {error.response['Error'].get('Message', error)}", file=sys.stderr)
            return 1
        if isinstance(error, BotoCoreError):
            print(f"stepauth: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
