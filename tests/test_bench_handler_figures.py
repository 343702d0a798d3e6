"""The bench's per-invocation figures: argon2's CPU inside a handler, and the on-AWS ratios."""

from __future__ import annotations

import pytest

from bench.stack import LogSink, Recorder
from bench.throughput import on_aws_handler_cpu
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
