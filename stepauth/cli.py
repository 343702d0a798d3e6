"""The ``stepauth`` command line: run the local cloud, manage keys and users.

Conventions shared by every command (see ``output.py`` and ``exits.py``): ``--output
table|json`` with one JSON document per command, ISO 8601 UTC times, exit codes 2 (usage),
3 (not found), 4 (unreachable or credentials), 1 (anything else), and nothing but the
command's own messages on stderr (library log lines are dropped; ``stepauth local`` is a
server and logs).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from . import exits, output
from .target import Target, TargetError


def aws_endpoint_exposure_warning(aws_host: str) -> str | None:
    """The warning `stepauth local` prints when the local AWS endpoint is not on loopback."""
    from localcloud.cloud import is_loopback

    if is_loopback(aws_host):
        return None
    return (
        f"WARNING: the local AWS endpoint listens on {aws_host}. It has no authentication "
        "and holds the private signing keys: anyone who can reach it can read or change "
        "everything."
    )


def _local(args: argparse.Namespace) -> int:
    from localcloud.cloud import LOCAL_CONTEXT, LocalCloud, LocalCloudSettings

    context = dict(LOCAL_CONTEXT)
    for setting in args.context:
        key, equals, value = setting.partition("=")
        if not key or not equals:
            print(f"stepauth local: --context {setting!r} is not KEY=VALUE", file=sys.stderr)
            return exits.USAGE
        context[key] = value
    settings = LocalCloudSettings(
        context=context,
        host=args.host,
        aws_host=args.aws_host,
        gateway_port=args.port,
        aws_port=args.aws_port,
        example_port=args.example_port,
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
    if settings.example_port is not None:
        print(f"example hello API   {settings.example_url}  (/jwt/hello, /lambda/hello)")
    print(f"local AWS endpoint  {settings.aws_endpoint}  (aws --endpoint-url …)")
    warning = aws_endpoint_exposure_warning(settings.aws_host)
    if warning:
        print(warning, file=sys.stderr)
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


def _signing_algorithm(args: argparse.Namespace, target: Target) -> str:
    """--algorithm, else the stack's configured algorithm (its output), else the default."""
    from steps.core.signing_keys import DEFAULT_ALGORITHM

    chosen = getattr(args, "algorithm", None)
    return str(chosen or target.outputs.get("TokenSigningAlgorithm") or DEFAULT_ALGORITHM)


def _keys_init(args: argparse.Namespace, target: Target) -> int:
    from steps.core.signing_keys import initialise_signing_keys

    kid = initialise_signing_keys(
        target.client("secretsmanager"),
        target.output("SigningKeysSecretArn"),
        target.table(),
        algorithm=_signing_algorithm(args, target),
    )
    print(f"signing keys ready; active key id {kid}")
    return 0


def _keys_rotate(args: argparse.Namespace, target: Target) -> int:
    from steps.core.signing_keys import rotate_signing_keys

    kid = rotate_signing_keys(
        target.client("secretsmanager"),
        target.output("SigningKeysSecretArn"),
        target.table(),
        access_token_ttl_seconds=args.access_token_ttl,
        algorithm=_signing_algorithm(args, target),
    )
    print(f"new active key {kid}; tokens signed with the previous key verify until they expire")
    return 0


def _algorithm_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--algorithm",
        choices=("ES256", "Ed25519"),
        default=None,
        help="algorithm of the new key (default: the stack's token_signing_algorithm output)",
    )


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
        raise exits.UsageError(str(error)) from None
    change = grant_role if add else revoke_role
    roles = change(target.table(), email, args.role)
    print(f"{email}: roles {', '.join(roles)} (effective in tokens issued from now on)")
    return 0


# -- parser -----------------------------------------------------------------------------------


def _aws_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (like the AWS CLI: --endpoint-url, --local, AWS_ENDPOINT_URL, --profile, "
        "AWS_PROFILE, AWS_REGION …; with none set, read-only commands use a running local "
        "cloud, commands that change anything use AWS)"
    )
    group.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:4566")
    group.add_argument(
        "--local", action="store_true", help="the local cloud (http://127.0.0.1:4566)"
    )
    group.add_argument("--profile", help="AWS profile name")
    group.add_argument("--region", help="AWS region")
    group.add_argument("--stack-name", default="stepauth", help="stack name (default stepauth)")


#: Commands that only read: the only ones that may find the local cloud by its open port.
_READ_ONLY = {
    ("keys", "list"),
    ("users", "list"),
    ("users", "show"),
    ("sessions", "list"),
    ("audit", "*"),
    ("executions", "*"),
    ("mail", "*"),
    ("events", "*"),
}


def changes_something(args: argparse.Namespace) -> bool:
    """Whether the parsed command writes anything (unknown commands count as writing)."""
    command = getattr(args, "command", None)
    action = getattr(args, f"{command}_command", None)
    return (command, "*") not in _READ_ONLY and (command, action) not in _READ_ONLY


def _with_target(command: Callable[[argparse.Namespace, Target], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        return command(args, Target.from_args(args, changes_something=changes_something(args)))

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepauth",
        description="stepauth: serverless authentication on Step Functions.",
        epilog="Exit codes: 0 done, 1 failed, 2 usage, 3 not found, 4 unreachable or "
        "credentials refused. --output json prints one JSON document; times are ISO 8601 UTC.",
    )
    parser.add_argument("--version", action="version", version=f"stepauth {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser(
        "local",
        help="run the whole service on the embedded local cloud",
        description="Synthesize the CDK app, deploy it into the embedded local cloud (moto) and "
        "serve the API. Binds to 127.0.0.1 unless --host says otherwise.",
    )
    local.add_argument("--host", default="127.0.0.1", help="API bind address (default 127.0.0.1)")
    local.add_argument(
        "--aws-host",
        default=os.environ.get("AWS_HOST") or "127.0.0.1",
        help="local AWS endpoint bind address (default 127.0.0.1, or $AWS_HOST; it has no "
        "authentication and holds the signing keys: --host does not change it)",
    )
    local.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    local.add_argument(
        "--aws-port", type=int, default=4566, help="local AWS endpoint port (default 4566)"
    )
    local.add_argument(
        "--example-port",
        type=int,
        default=None,
        help="also deploy and serve the example hello API on this port (default: not served)",
    )
    local.add_argument("--region", default="us-east-1", help="region name (default us-east-1)")
    local.add_argument("--stack-name", default="stepauth", help="stack name (default stepauth)")
    local.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a stack setting (README's configuration table), like cdk -c; e.g. -c mfa=required",
    )
    local.set_defaults(run=_local)

    keys = commands.add_parser(
        "keys", help="signing keys: init, rotate, list", description="Manage the signing keys."
    ).add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys.add_parser(
        "init",
        help="make sure a valid key set exists (the deploy itself writes the first)",
        description="Writes a generated JWK set (the stack's token_signing_algorithm, or "
        "--algorithm) into the stack's signing-keys secret and its public keys into the table, "
        "unless a valid set is there already. The stack's Custom::SigningKeys resource does "
        "this during every deploy (locally too); this command is the same check by hand. It "
        "targets AWS unless --local or an endpoint says otherwise.",
    )
    _aws_options(init)
    _algorithm_option(init)
    init.set_defaults(run=_with_target(_keys_init))
    rotate = keys.add_parser(
        "rotate",
        help="add a new active key; the previous one keeps verifying until its tokens expire",
        description="Adds a new active signing key. Tokens signed with the previous key stay "
        "valid until they expire; keys retired longer ago than the access-token lifetime "
        "are dropped. Token issuers pick up the new key within 5 minutes.",
    )
    _aws_options(rotate)
    _algorithm_option(rotate)
    rotate.add_argument(
        "--access-token-ttl",
        type=int,
        default=900,
        help="the stack's access token lifetime in seconds (default 900)",
    )
    rotate.set_defaults(run=_with_target(_keys_rotate))
    listing = keys.add_parser("list", help="the published public keys, active first")
    _aws_options(listing)
    output.add_output_option(listing)
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
    """``stepauth cost``: the monthly AWS bill and capacity plan (see ``stepauth/cost/``)."""
    from .cost import add_cost_command

    add_cost_command(commands)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stepauth")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _drop_library_logs() -> None:
    """Library log lines (botocore, Powertools …) never reach the operator's stderr: a root
    handler that drops them also keeps Python's last-resort handler from printing warnings."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _readable(error: Exception) -> str | None:
    """The one-line message for an error the command line expects, None for a bug."""
    from botocore.exceptions import BotoCoreError, ClientError

    from steps.core.errors import ClientError as StepAuthError

    if isinstance(error, TargetError | StepAuthError | BotoCoreError):  # e.g. no such user
        return str(error)
    if isinstance(error, ClientError):
        return str(error.response["Error"].get("Message", error))
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit with 2 here
    if args.command == "local":  # a server: its log is its output
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    else:
        _drop_library_logs()
    try:
        return int(args.run(args))
    except BrokenPipeError:  # the reader went away (stepauth … | head): not an error
        sys.stdout = open(os.devnull, "w")  # Python flushes stdout at exit: not the pipe
        return exits.OK
    except Exception as error:  # noqa: BLE001 - one readable line, never a traceback
        message = _readable(error)
        if message is None:
            raise
        print(f"stepauth: {message}", file=sys.stderr)
        return exits.exit_code(error)


if __name__ == "__main__":
    sys.exit(main())
