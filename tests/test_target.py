"""The command line resolves its AWS target like the AWS CLI, and never sends a command that
changes something to the local cloud just because a port is open."""

from __future__ import annotations

import pytest

from stepauth import target as target_module
from stepauth.cli import build_parser, changes_something
from stepauth.target import AWS_ENVIRONMENT, LOCAL_ENDPOINT, Target


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*AWS_ENVIRONMENT, "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def local_cloud_listening(clean_environment: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Something answers on 127.0.0.1:4566 (as with `make dev` running)."""
    clean_environment.setattr(target_module, "_local_cloud_running", lambda: True)
    return clean_environment


def resolve(*argv: str) -> Target:
    args = build_parser().parse_args(list(argv))
    return Target.from_args(args, changes_something=changes_something(args))


@pytest.mark.parametrize(
    "argv",
    [
        ("keys", "init"),
        ("keys", "rotate"),
        ("users", "disable", "a@example.com"),
        ("users", "delete", "a@example.com"),
        ("users", "grant-role", "a@example.com", "admin"),
        ("sessions", "revoke", "a@example.com", "--all"),
    ],
)
def test_commands_that_change_something_never_sniff_the_port(
    local_cloud_listening: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    target = resolve(*argv)
    assert target.endpoint_url is None  # AWS, through the default credential chain


@pytest.mark.parametrize(
    "argv", [("keys", "list"), ("users", "list"), ("audit", "recent"), ("executions", "list")]
)
def test_read_only_commands_use_a_running_local_cloud_when_nothing_is_set(
    local_cloud_listening: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    assert resolve(*argv).endpoint_url == LOCAL_ENDPOINT


@pytest.mark.parametrize("variable", AWS_ENVIRONMENT)
def test_any_aws_setting_in_the_environment_wins_over_the_open_port(
    local_cloud_listening: pytest.MonkeyPatch, variable: str
) -> None:
    local_cloud_listening.setenv(variable, "something")
    assert resolve("keys", "list").endpoint_url is None


def test_profile_and_region_options_name_aws(local_cloud_listening: pytest.MonkeyPatch) -> None:
    target = resolve("keys", "list", "--profile", "prod", "--region", "eu-west-1")
    assert (target.endpoint_url, target.profile, target.region) == (None, "prod", "eu-west-1")
    assert resolve("keys", "list", "--region", "eu-west-1").endpoint_url is None


def test_explicit_local_and_endpoints(clean_environment: pytest.MonkeyPatch) -> None:
    assert resolve("keys", "init", "--local").endpoint_url == LOCAL_ENDPOINT
    other = "http://127.0.0.1:9999"
    assert resolve("keys", "init", "--endpoint-url", other).endpoint_url == other
    clean_environment.setenv("AWS_ENDPOINT_URL", other)
    assert resolve("keys", "rotate").endpoint_url == other
    # As in the AWS CLI, the environment's endpoint applies to any profile.
    assert resolve("keys", "rotate", "--profile", "prod").endpoint_url == other


def test_nothing_set_and_nothing_listening_is_aws(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setattr(target_module, "_local_cloud_running", lambda: False)
    assert resolve("keys", "list").endpoint_url is None


def test_a_profile_keeps_its_credentials_with_a_custom_endpoint(
    clean_environment: pytest.MonkeyPatch, tmp_path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = s\n")
    clean_environment.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    clean_environment.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    target = resolve("keys", "list", "--endpoint-url", "http://127.0.0.1:9", "--profile", "prod")
    assert target.session.get_credentials().access_key == "AKIDPROD"
    local = resolve("keys", "list", "--local")
    assert local.session.get_credentials().access_key == "local"  # no set-up needed locally
