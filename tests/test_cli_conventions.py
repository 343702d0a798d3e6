"""The command line's shared conventions as pure functions: exit codes, times, option values.
(The commands themselves are exercised against the local cloud in test_cli_operators.py.)"""

from __future__ import annotations

import argparse
import datetime

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from stepauth import exits, output
from stepauth.target import TargetError
from steps.core.errors import InvalidRequest, SessionNotFound, UserNotFound


def aws_error(code: str, message: str = "refused") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AnyOperation")


def wrapped(error: BaseException, message: str = "cannot reach AWS") -> TargetError:
    """A TargetError raised while handling ``error`` (``raise … from None`` keeps the context)."""
    try:
        try:
            raise error
        except Exception:
            raise TargetError(message) from None
    except TargetError as target_error:
        return target_error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (exits.UsageError("add --yes"), exits.USAGE),
        (exits.NotFound("no user x"), exits.NOT_FOUND),
        (exits.Unreachable("down"), exits.UNREACHABLE),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), exits.UNREACHABLE),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), exits.UNREACHABLE),
        (NoCredentialsError(), exits.UNREACHABLE),
        (ProfileNotFound(profile="nope"), exits.UNREACHABLE),
        (aws_error("UnrecognizedClientException"), exits.UNREACHABLE),
        (aws_error("ExpiredTokenException"), exits.UNREACHABLE),
        (aws_error("AccessDeniedException"), exits.UNREACHABLE),
        (aws_error("ResourceNotFoundException"), exits.NOT_FOUND),
        (aws_error("ConditionalCheckFailedException"), exits.FAILED),
        (aws_error("ThrottlingException"), exits.FAILED),
        (UserNotFound(), exits.NOT_FOUND),
        (SessionNotFound(), exits.NOT_FOUND),
        (InvalidRequest("Unknown role."), exits.USAGE),
        (TargetError("the stack names no log group"), exits.FAILED),
        (wrapped(EndpointConnectionError(endpoint_url="http://x")), exits.UNREACHABLE),
        (wrapped(NoCredentialsError()), exits.UNREACHABLE),
        (
            wrapped(aws_error("ValidationError", "Stack with id absent does not exist")),
            exits.NOT_FOUND,
        ),
        (wrapped(aws_error("ValidationError", "Template format error")), exits.FAILED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_failure_has_its_exit_code(error: BaseException, code: int) -> None:
    assert exits.exit_code(error) == code


def test_the_exit_codes_are_distinct() -> None:
    codes = [exits.OK, exits.FAILED, exits.USAGE, exits.NOT_FOUND, exits.UNREACHABLE]
    assert sorted(codes) == [0, 1, 2, 3, 4]


def test_one_time_format_in_tables_and_json() -> None:
    moment = datetime.datetime(
        2026, 1, 2, 4, 4, 5, 678_900, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    assert output.utc(moment) == output.iso(moment) == "2026-01-02T03:04:05.678Z"
    parsed = datetime.datetime.fromisoformat(output.utc(moment))
    assert parsed == moment.replace(microsecond=678_000)
    assert (output.utc(None), output.iso(None)) == ("-", None)


@pytest.mark.parametrize("text", ["0", "-1", "ten", "2.5", ""])
def test_a_positive_whole_number_is_required(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        output.positive_int(text)


def test_output_json_and_its_alias() -> None:
    parser = argparse.ArgumentParser()
    output.add_output_option(parser)
    assert not output.wants_json(parser.parse_args([]))
    assert output.wants_json(parser.parse_args(["--json"]))
    assert output.wants_json(parser.parse_args(["--output", "json"]))
    assert not output.wants_json(parser.parse_args(["--output", "table"]))
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["--json", "--output", "table"])  # one or the other
    assert refused.value.code == 2


@pytest.mark.parametrize(
    "argv", [["mail", "list"], ["mail", "show", "x"], ["events", "tail"], ["events", "tail", "-f"]]
)
def test_the_lifecycle_commands_only_read(argv: list[str]) -> None:
    from stepauth.cli import build_parser, changes_something

    args = build_parser().parse_args(argv)
    assert not changes_something(args)
    assert not output.wants_json(args)
    assert output.wants_json(build_parser().parse_args([*argv, "--output", "json"]))
