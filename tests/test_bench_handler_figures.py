"""The bench's per-invocation figures: argon2's CPU inside a handler, and the on-AWS ratios."""

from __future__ import annotations

import datetime

import pytest

from bench import lambda_sandbox
from bench.stack import LogSink, Recorder
from bench.throughput import on_aws_handler_cpu
from steps.core.deadline import commit_deadline
from steps.core.passwords import Argon2Params, PasswordHasher

SMALL = Argon2Params(memory_kib=256, time_cost=3, parallelism=1)


def test_the_recorder_times_the_argon2_verification_inside_an_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PasswordHasher, "verify", PasswordHasher.verify)  # restored after
    hasher = PasswordHasher(SMALL)
    password_hash = hasher.hash("a long enough password")
    recorder = Recorder(LogSink())
    recorder.time_argon2()

    def verifying(event: object, context: object) -> bool:
        sum(range(20_000))  # the handler's own work
        return hasher.verify(password_hash, "a long enough password")

    def other(event: object, context: object) -> int:
        return sum(range(20_000))

    assert recorder.timed_handler("verifying", verifying)({}, None) is True
    recorder.timed_handler("other", other)({}, None)
    handlers = recorder.take()["handlers"]
    argon2_ms = handlers["verifying"]["argon2_cpu_ms"][0]
    assert 0 < argon2_ms < handlers["verifying"]["cpu_ms"][0]
    assert handlers["other"]["argon2_cpu_ms"] == [0.0]
    # Verifications outside an invocation are not charged to the next one.
    hasher.verify(password_hash, "a long enough password")
    recorder.timed_handler("other", other)({}, None)
    assert recorder.take()["handlers"]["other"]["argon2_cpu_ms"] == [0.0]


def test_the_on_aws_login_ratio_is_set_against_the_floor_and_the_invocations_argon2() -> None:
    login = {
        "steps.validate_login.handler": {"on_aws_cpu_ms": 0.5, "argon2_cpu_ms": 0.0},
        "steps.verify_password.handler": {"on_aws_cpu_ms": 37.5, "argon2_cpu_ms": 36.5},
        "steps.issue_tokens.handler": {"on_aws_cpu_ms": 2.5, "argon2_cpu_ms": 0.0},
    }
    refresh = {"steps.rotate_refresh_token.handler": {"on_aws_cpu_ms": 4.5}}
    figures = on_aws_handler_cpu(login, refresh, verify_cpu_ms=30.0)
    assert figures["login_handlers_cpu_ms"] == pytest.approx(40.5)
    assert figures["login_ratio_to_argon2"] == pytest.approx(40.5 / 30.0)
    assert figures["argon2_in_login_cpu_ms"] == pytest.approx(36.5)
    assert figures["login_ratio_to_argon2_in_login"] == pytest.approx(40.5 / 36.5)
    assert figures["refresh_handlers_cpu_ms"] == pytest.approx(4.5)


def test_without_argon2_samples_the_informational_ratio_is_absent() -> None:
    login = {"steps.verify_password.handler": {"on_aws_cpu_ms": 37.5}}
    figures = on_aws_handler_cpu(login, {}, verify_cpu_ms=30.0)
    assert figures["argon2_in_login_cpu_ms"] == 0.0
    assert figures["login_ratio_to_argon2_in_login"] == 0.0


def test_the_sandbox_ratio_is_the_median_of_each_rounds_ratio() -> None:
    replayed = {
        "errors": 0,
        "floor_cpu_ms": [20.0, 40.0, 30.0],
        "handlers": {
            "steps.validate_login.handler": {
                "cpu_ms": [1.0, 1.0, 1.0],
                "service_cpu_ms": [0, 0, 0],
            },
            "steps.verify_password.handler": {
                "cpu_ms": [21.5, 41.5, 31.0],
                "service_cpu_ms": [0.5, 0.5, 0.5],
            },
        },
    }
    figures = lambda_sandbox.figures(replayed)
    # Rounds: (1 + 21) / 20 = 1.1, (1 + 41) / 40 = 1.05, (1 + 30.5) / 30 = 1.05: drift cancels.
    assert figures["login_ratio_to_argon2"] == pytest.approx(1.05)
    assert figures["login_handlers_cpu_ms"] == pytest.approx(31.5)
    assert figures["verify_cpu_ms"] == 30.0
    assert figures["login_handlers"]["steps.verify_password.handler"] == pytest.approx(30.5)
    assert figures["met"] is True
    assert lambda_sandbox.figures({**replayed, "errors": 1})["met"] is False
    slow = {**replayed, "floor_cpu_ms": [10.0, 20.0, 15.0]}
    assert lambda_sandbox.figures(slow)["met"] is False


def test_a_sandbox_replay_needs_a_sample_per_handler_and_round() -> None:
    replayed = {
        "errors": 0,
        "floor_cpu_ms": [20.0, 40.0],
        "handlers": {"steps.validate_login.handler": {"cpu_ms": [1.0], "service_cpu_ms": [0.0]}},
    }
    with pytest.raises(ValueError, match="one sample per handler and round"):
        lambda_sandbox.figures(replayed)


def test_a_replayed_input_gets_a_commit_deadline_starting_now_and_nothing_else_changes() -> None:
    event = {
        "user": {"id": "u1"},
        "deadline": {"startedAt": "2026-01-01T00:00:00.000Z", "withinSeconds": 20},
    }
    now = datetime.datetime(2026, 12, 2, 11, 0, 0, tzinfo=datetime.UTC)
    replayed = lambda_sandbox.with_fresh_deadline(event, now)
    assert replayed == {
        "user": {"id": "u1"},
        "deadline": {"startedAt": "2026-12-02T11:00:00Z", "withinSeconds": 20},
    }
    assert commit_deadline(replayed["deadline"]) == now.timestamp() + 20
    assert event["deadline"]["startedAt"] == "2026-01-01T00:00:00.000Z"  # a copy
    replayed["user"]["id"] = "changed"
    assert event["user"]["id"] == "u1"
    assert lambda_sandbox.with_fresh_deadline({"request": {}}, now) == {"request": {}}


def test_the_recorder_captures_each_handlers_next_input_before_the_handler_runs() -> None:
    recorder = Recorder(LogSink())

    def mutating(event: dict[str, object], context: object) -> None:
        event["seen"] = True

    first = recorder.timed_handler("first", mutating)
    second = recorder.timed_handler("second", mutating)
    first({"n": 0}, None)  # before capturing: not kept
    recorder.capture_next_inputs()
    second({"n": 1}, None)
    first({"n": 2}, None)
    second({"n": 3}, None)  # a handler's next input only
    captured = recorder.captured_inputs()
    assert captured == {"second": {"n": 1}, "first": {"n": 2}}
    assert list(captured) == ["second", "first"]  # in invocation order
    first({"n": 4}, None)  # capturing ended
    assert recorder.captured_inputs() == {"second": {"n": 1}, "first": {"n": 2}}
