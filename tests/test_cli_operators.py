"""The operator command line against the running local cloud: executions, audit, users,
sessions and keys, called in-process through ``stepauth.cli.main`` with ``--endpoint-url``."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.cloud import LocalCloud, free_port
from stepauth.cli import build_parser, main
from tests.test_api import PASSWORD, Api, new_email


@dataclass
class Result:
    code: int
    out: str
    err: str

    def documents(self, collection: str) -> list[dict[str, Any]]:
        """The list a listing's one JSON document holds under ``collection``."""
        document = self.document()
        assert set(document) == {collection}, document.keys()
        return document[collection]

    def json_lines(self, key: str) -> list[dict[str, Any]]:
        """The JSON lines of the output that carry ``key`` (background log lines are skipped)."""
        found = []
        for line in self.out.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and key in document:
                found.append(document)
        return found

    def document(self) -> dict[str, Any]:
        start = self.out.index("{\n")
        return json.JSONDecoder().raw_decode(self.out[start:])[0]


@pytest.fixture
def cli(local_cloud: LocalCloud, capsys: pytest.CaptureFixture[str]):
    def run(*args: str, endpoint: str | None = None) -> Result:
        capsys.readouterr()
        try:
            code = main([*args, "--endpoint-url", endpoint or local_cloud.settings.aws_endpoint])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@dataclass(frozen=True)
class Traffic:
    email: str
    unknown_email: str
    registered: str  # request ids
    taken: str
    wrong_password: str
    unknown_user: str
    logged_in: str
    malformed: str


@pytest.fixture(scope="module")
def traffic(api: Api) -> Traffic:
    """A few registrations and failed logins, as an operator would find them."""
    email, unknown = new_email(), new_email()
    answers = [
        (api.register(email), 201),
        (api.register(email), 409),
        (api.login(email, "not the right passphrase"), 401),
        (api.login(unknown, "not the right passphrase"), 401),
        (api.login(email), 200),
        (api.call("POST", "/v1/register", '{"email":', {"Content-Type": "application/json"}), 400),
    ]
    for answer, status in answers:
        assert answer.status == status, answer.body
    ids = [answer.headers["x-amzn-requestid"] for answer, _ in answers]
    return Traffic(email, unknown, *ids)


# -- executions -------------------------------------------------------------------------------


def test_failed_executions_are_the_rejected_requests(cli, traffic: Traffic) -> None:
    listed = cli("executions", "list", "--status", "FAILED", "--limit", "2000", "--json")
    assert listed.code == 0, listed.err
    failed = {d["name"]: d for d in listed.documents("executions")}
    rejected = (traffic.taken, traffic.wrong_password, traffic.unknown_user, traffic.malformed)
    assert set(rejected) <= set(failed)
    assert traffic.registered not in failed and traffic.logged_in not in failed
    assert {failed[r]["error"] for r in rejected} == {"stepauth.ClientError"}
    assert json.loads(failed[traffic.taken]["cause"])["statusCode"] == 409
    assert failed[traffic.wrong_password]["workflow"] == "Login"

    table = cli("executions", "list", "--status", "failed", "--limit", "2000")
    assert table.code == 0
    row = next(line for line in table.out.splitlines() if traffic.wrong_password in line)
    assert "Login" in row and "FAILED" in row and "401 invalid_credentials" in row


def test_the_list_narrows_to_one_workflow(cli, traffic: Traffic) -> None:
    listed = cli("executions", "list", "--workflow", "login", "--since", "1h", "--json")
    names = {d["name"] for d in listed.documents("executions")}
    assert {traffic.wrong_password, traffic.unknown_user, traffic.logged_in} <= names
    assert traffic.registered not in names
    assert {d["workflow"] for d in listed.documents("executions")} == {"Login"}


def test_show_prints_the_failing_state_and_its_cause(cli, traffic: Traffic) -> None:
    shown = cli("executions", "show", traffic.wrong_password)
    assert shown.code == 0, shown.err
    assert "failed in   RejectInvalidCredentials (Fail)" in shown.out
    assert "401 invalid_credentials: The email or password is incorrect." in shown.out
    verify = next(line for line in shown.out.splitlines() if "VerifyPassword" in line)
    assert "caught InvalidCredentials" in verify

    timeline = cli("executions", "show", traffic.unknown_user, "--json").document()
    assert timeline["status"] == "FAILED" and timeline["name"] == traffic.unknown_user
    assert timeline["failed_state"] == "RejectInvalidCredentials"
    assert [s["name"] for s in timeline["states"]] == [
        "BodyWithinLimit?",
        "ValidateLogin",
        "FindUser",
        "VerifyPassword",
        "AuditLoginFailureKnownAccount?",
        "AuditLoginFailureForEmail",
        "RejectInvalidCredentials",
    ]
    verify = timeline["states"][3]
    assert (verify["outcome"], verify["error"], verify["attempts"]) == (
        "caught",
        "InvalidCredentials",
        1,
    )
    assert all(s["duration_ms"] is not None for s in timeline["states"])


def test_show_of_a_success_and_by_arn(cli, traffic: Traffic) -> None:
    timeline = cli("executions", "show", traffic.registered, "--json").document()
    assert timeline["status"] == "SUCCEEDED" and timeline["failed_state"] is None
    assert timeline["states"][-1]["name"] == "RespondCreated"
    assert {s["outcome"] for s in timeline["states"]} == {"ok"}
    again = cli("executions", "show", timeline["execution_arn"], "--json").document()
    assert again["states"] == timeline["states"]


def test_the_logs_tell_the_same_story_as_the_history(cli, traffic: Traffic) -> None:
    """The AWS path (CloudWatch Logs) against the local cloud's log groups."""
    for request_id in (traffic.registered, traffic.wrong_password, traffic.malformed):
        from_history = cli("executions", "show", request_id, "--json").document()
        from_logs = cli("executions", "show", request_id, "--json", "--source", "logs").document()
        for key in ("execution_arn", "status", "error", "cause", "failed_state"):
            assert from_logs[key] == from_history[key], key
        assert [(s["name"], s["outcome"]) for s in from_logs["states"]] == [
            (s["name"], s["outcome"]) for s in from_history["states"]
        ]
    listed = cli("executions", "list", "--source", "logs", "--status", "FAILED", "--json")
    names = {d["name"] for d in listed.documents("executions")}
    assert {traffic.taken, traffic.wrong_password, traffic.unknown_user} <= names


# -- audit ------------------------------------------------------------------------------------


def test_audit_user_lists_the_attempts_in_order_with_the_source_ip(cli, traffic: Traffic) -> None:
    records = cli("audit", "user", traffic.email, "--json").documents("records")
    assert [(r["action"], r["outcome"], r["request_id"]) for r in records] == [
        ("register", "success", traffic.registered),
        ("register", "email_taken", traffic.taken),
        ("login", "failure", traffic.wrong_password),
        ("login", "success", traffic.logged_in),
    ]
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)
    assert {r["source_ip"] for r in records} == {"127.0.0.1"}
    assert {r["user_agent"] for r in records} == {"stepauth-tests/1"}
    user_id = records[0]["user_id"]
    assert records[1]["email"] == traffic.email and "user_id" not in records[1]
    assert all(r["execution_id"].split(":")[7] == r["request_id"] for r in records)

    table = cli("audit", "user", user_id, "--since", "1h")
    assert table.code == 0
    lines = [line for line in table.out.splitlines() if traffic.wrong_password in line]
    assert len(lines) == 1 and "127.0.0.1" in lines[0] and "failure" in lines[0]


def test_failed_logins_for_an_unknown_email_are_found_by_the_email(cli, traffic) -> None:
    (record,) = cli("audit", "user", traffic.unknown_email.upper(), "--json").documents("records")
    assert (record["action"], record["outcome"], record["email"]) == (
        "login",
        "failure",
        traffic.unknown_email,
    )
    nothing = cli("audit", "user", new_email())
    assert nothing.code == 0 and "no audit records for" in nothing.out


def test_recent_and_export_filter_by_action_and_outcome(cli, traffic: Traffic) -> None:
    recent = cli("audit", "recent", "--action", "login", "--outcome", "failure", "--json")
    records = recent.documents("records")
    assert {traffic.wrong_password, traffic.unknown_user} <= {r["request_id"] for r in records}
    assert {(r["action"], r["outcome"]) for r in records} == {("login", "failure")}
    exported = cli("audit", "export", "--since", "1h").json_lines("action")
    assert {traffic.registered, traffic.taken, traffic.logged_in} <= {
        r.get("request_id") for r in exported
    }


# -- users, sessions, keys ----------------------------------------------------------------------


def test_disable_ends_every_session_and_enable_lets_the_user_back(cli, api: Api) -> None:
    email = new_email()
    session = api.register(email).json()
    shown = cli("users", "show", email, "--json").document()
    assert (shown["status"], shown["active_sessions"]) == ("active", 1)

    assert cli("users", "disable", email).code == 0
    refused = api.post_json("/v1/token/refresh", {"refresh_token": session["refresh_token"]})
    assert refused.status == 400
    assert api.login(email).status == 401
    (revoked,) = cli("sessions", "list", email, "--all", "--json").documents("sessions")
    assert revoked["state"] == "revoked (user_disabled)"
    assert "no active sessions" in cli("sessions", "list", email).out
    disabled = cli("users", "list", "--status", "disabled", "--json").documents("users")
    assert email in {u["email"] for u in disabled}
    assert all("password_hash" not in u for u in disabled)

    assert cli("users", "enable", shown["id"]).code == 0
    assert api.login(email, PASSWORD).status == 200
    actions = [
        (r["action"], r.get("detail", ""))
        for r in cli("audit", "user", email, "--json").documents("records")
    ]
    assert ("disable", "by an operator (stepauth CLI)") in actions
    assert ("enable", "by an operator (stepauth CLI)") in actions


def test_sessions_are_revoked_one_or_all(cli, api: Api) -> None:
    email = new_email()
    tokens = [api.register(email).json(), api.login(email).json(), api.login(email).json()]
    sessions = cli("sessions", "list", email, "--json").documents("sessions")
    assert len(sessions) == 3 and {s["source_ip"] for s in sessions} == {"127.0.0.1"}

    assert cli("sessions", "revoke", email, "--family", sessions[0]["id"]).code == 0
    assert len(cli("sessions", "list", email, "--json").documents("sessions")) == 2
    unknown = cli("sessions", "revoke", email, "--family", sessions[0]["id"])
    assert unknown.code == 3 and "has no active session" in unknown.err

    assert cli("sessions", "revoke", email, "--all").code == 0
    assert cli("sessions", "list", email, "--json").documents("sessions") == []
    for session in tokens:
        answer = api.post_json("/v1/token/refresh", {"refresh_token": session["refresh_token"]})
        assert answer.status == 400


def test_delete_needs_confirmation(cli, api: Api) -> None:
    email = new_email()
    assert api.register(email).status == 201
    unconfirmed = cli("users", "delete", email)
    assert unconfirmed.code == 2 and "--yes" in unconfirmed.err
    assert api.login(email).status == 200
    assert cli("users", "delete", email, "--yes").code == 0
    assert api.login(email).status == 401
    gone = cli("users", "show", email)
    assert gone.code == 3 and gone.err.strip() == f"stepauth: no user {email}"


def test_keys_list_shows_when_each_key_was_made(cli) -> None:
    listed = cli("keys", "list")
    assert listed.code == 0, listed.err
    header, active, *_ = listed.out.splitlines()
    assert header.split()[:3] == ["KID", "STATUS", "ALG"]
    assert active.split()[1:3] == ["active", "ES256"]
    assert active.split()[3][:2] == "20"  # a creation date, not a dash
    keys = cli("keys", "list", "--json").document()["keys"]
    assert keys[0]["created_at"].endswith("Z") and "d" not in keys[0]


# -- errors and help ----------------------------------------------------------------------------


def test_unknown_ids_are_one_readable_line(cli) -> None:
    for args, message, code in (
        (("executions", "show", "no-such-request"), "no execution named no-such-request", 3),
        (("executions", "list", "--workflow", "nope"), "no workflow named nope", 3),
        (("users", "show", "nobody@example.com"), "no user nobody@example.com", 3),
        (("sessions", "list", "no-such-user-id"), "no user no-such-user-id", 3),
        (("users", "disable", "not an email@"), "not an email@", 2),
        (("users", "show", "x@example.com", "--stack-name", "absent"), "stack absent", 3),
    ):
        result = cli(*args)
        assert result.code == code, (args, result.code)
        assert result.err.startswith("stepauth: ") and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_an_unreachable_endpoint_is_one_readable_line(cli) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    for args in (("executions", "list"), ("audit", "recent"), ("users", "list")):
        result = cli(*args, endpoint=endpoint)
        assert result.code == 4
        assert result.err.strip().splitlines() == [
            f"stepauth: cannot reach {endpoint}: "
            f'Could not connect to the endpoint URL: "{endpoint}/"'
        ]


def test_a_bad_duration_is_refused_by_the_parser(cli) -> None:
    result = cli("audit", "recent", "--since", "yesterday")
    assert result.code == 2 and "not a duration like 30m, 1h, 7d or 2w" in result.err


@pytest.mark.parametrize("limit", ["0", "-3", "ten", "1.5"])
def test_a_limit_must_be_a_positive_whole_number(cli, limit: str) -> None:
    result = cli("executions", "list", "--limit", limit)
    assert result.code == 2 and "usage: stepauth executions list" in result.err
    assert "--limit" in result.err and "Traceback" not in result.err


def test_json_and_output_json_are_the_same_option(cli) -> None:
    assert cli("keys", "list", "--json").out == cli("keys", "list", "--output", "json").out
    refused = cli("keys", "list", "--output", "yaml")
    assert refused.code == 2 and "invalid choice" in refused.err


def test_the_version_is_the_package_version(capsys) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"stepauth {version('stepauth')}"


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple]:
    found: list[tuple] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize(
    "command",
    [
        c
        for c in _commands(build_parser())
        if c[0] in ("executions", "audit", "users", "sessions", "keys")
    ],
    ids=" ".join,
)
def test_every_command_explains_itself(command, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: stepauth {' '.join(command)}")
    body = text.split("\n\n", 1)[1]
    assert len(body.split()) > 8  # a description, not just the usage line
    if len(command) == 2 and command[0] in ("executions", "audit", "sessions"):
        assert "Example: stepauth" in " ".join(text.split())
