"""The commit deadline of every committing step (steps/core/deadline.py): the table checks it
immediately before a step's first write, so a request the client has given up on commits nothing.

Clocks are injected: the table's ``clock`` (the wall clock in a Lambda) is a test's function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from steps.core.clock import ManualClock
from steps.core.deadline import DeadlinePassed
from steps.core.errors import CodeExpired
from steps.core.table import Table, pending_key, user_from_item, user_item, user_key
from steps.core.table import repository as table_repository
from steps.core.table.records import UserRecord
from steps.core.tokens import issue_tokens_for_state
from steps.core.verification import MailSettings, Secrets, issue
from steps.store_password import RESET_KIND, store_for_state
from steps.verify_email import KIND as VERIFY_KIND
from steps.verify_email import verify_for_state
from tests.steps.conftest import TABLE, api_event

#: Every handler whose table write is its request's commit and that gets the workflow's
#: ``deadline`` through :func:`steps.core.table.committing_table` (IssueTokens and
#: RotateRefreshToken check it themselves: tests/steps/test_session_handlers.py). The template
#: test (tests/test_resilience_template.py) checks that these are exactly the functions of the
#: Tasks that receive a deadline.
COMMITTING_HANDLERS = (
    "check_step_up",
    "confirm_email_change",
    "confirm_totp",
    "delete_account",
    "disable_user",
    "end_session",
    "end_sessions",
    "replace_recovery_codes",
    "send_email",
    "start_mfa_challenge",
    "start_totp_enrolment",
    "store_password",
    "verify_mfa_login",
    "verify_second_factor",
)
#: The handlers that check the deadline themselves, beside their other work.
SELF_CHECKING_HANDLERS = ("issue_tokens", "rotate_refresh_token")

DEADLINE = 1_800_000_020.0
STARTED = {"startedAt": "2027-01-15T08:00:00.000Z", "withinSeconds": 20}
KEY = b"k" * 32
SETTINGS = MailSettings(code_ttl_seconds=3600, max_attempts=5, sends_per_hour=3)
NOW = 1_800_000_000.0


class Conditional(Exception):
    response = {"Error": {"Code": "ConditionalCheckFailedException"}}


class RecordingClient:
    """A DynamoDB client that records the calls it gets (a condition may be made to fail)."""

    def __init__(self, condition_fails: bool = False) -> None:
        self.calls: list[str] = []
        self.condition_fails = condition_fails

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        def call(**request: Any) -> dict[str, Any]:
            self.calls.append(operation)
            if self.condition_fails and "ConditionExpression" in request:
                raise Conditional
            return {"Attributes": {"pk": {"S": "x"}}} if operation == "update_item" else {}

        return call


ITEM = {"pk": {"S": "A"}, "sk": {"S": "B"}}
NAMES = {"#a": "a"}
VALUES = {":a": {"S": "a"}}
WRITES: dict[str, Callable[[Table], Any]] = {
    "put": lambda t: t.put(ITEM),
    "put_new": lambda t: t.put_new(ITEM),
    "put_all_new": lambda t: t.put_all_new([ITEM]),
    "transact": lambda t: t.transact([{"Put": {"Item": ITEM}}]),
    "update_if": lambda t: t.update_if(
        ITEM, update="SET #a = :a", condition="#a = :a", names=NAMES, values=VALUES
    ),
    "delete_if": lambda t: t.delete_if(ITEM, condition="#a = :a", names=NAMES, values=VALUES),
    "update_returning": lambda t: t.update_returning(
        ITEM, update="SET #a = :a", names=NAMES, values=VALUES
    ),
    "delete": lambda t: t.delete(ITEM),
    "delete_all": lambda t: t.delete_all([ITEM]),
    "put_once": lambda t: t.put_once(ITEM, ITEM),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_past_the_deadline_sends_nothing(write: str) -> None:
    client = RecordingClient()
    table = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE + 0.001)
    with pytest.raises(DeadlinePassed):
        WRITES[write](table)
    assert client.calls == []
    in_time = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE)
    WRITES[write](in_time)  # at the deadline itself: still in time
    assert len(client.calls) == 1


def test_reads_are_not_stopped_and_a_table_without_deadline_always_writes() -> None:
    client = RecordingClient()
    late = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE + 60)
    late.get(ITEM)
    late.get_many([ITEM])
    Table(client, TABLE, clock=lambda: DEADLINE + 1e9).put(ITEM)
    assert client.calls == ["get_item", "batch_get_item", "put_item"]


def test_the_check_is_immediately_before_the_first_write_and_the_commit_is_completed() -> None:
    """A step that started in time but whose reads ran past the deadline writes nothing; once
    its first write (the commit) went through, the writes that complete it are not stopped."""
    now = [DEADLINE - 1]
    client = RecordingClient()
    table = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: now[0])
    table.get(ITEM)
    now[0] = DEADLINE + 0.5  # the reads took longer than the budget
    with pytest.raises(DeadlinePassed):
        table.put(ITEM)
    assert client.calls == ["get_item"]

    now[0] = DEADLINE - 1
    committing = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: now[0])
    committing.put(ITEM)
    now[0] = DEADLINE + 5
    committing.delete(ITEM)  # completes the commit (e.g. the sessions of a stored password)
    assert client.calls[-2:] == ["put_item", "delete_item"]


def test_a_write_whose_condition_failed_committed_nothing_and_the_next_is_checked() -> None:
    now = [DEADLINE - 1]
    client = RecordingClient(condition_fails=True)
    table = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: now[0])
    assert (
        table.update_if(ITEM, update="SET #a = :a", condition="#a = :a", names=NAMES, values=VALUES)
        is False
    )
    now[0] = DEADLINE + 1
    with pytest.raises(DeadlinePassed):
        table.put(ITEM)


# -- every committing handler hands its input's deadline to the table ------------------------


#: What the handlers read before they build their table.
EVENT = {"caller": {"userId": "u-1"}, "user_id": "u-1", "user": {"id": "u-1"}}


class Stop(Exception):
    """Raised by the spy table factory: the handler got as far as building its table."""


@pytest.mark.parametrize("name", COMMITTING_HANDLERS)
def test_every_committing_handler_builds_its_table_with_the_inputs_deadline(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float | None] = []

    def spy(commit_by: float | None = None) -> Table:
        seen.append(commit_by)
        raise Stop

    monkeypatch.setattr(table_repository, "default_table", spy)
    handler = importlib.import_module(f"steps.{name}").handler
    with pytest.raises(Stop):
        handler({**EVENT, "deadline": STARTED}, None)
    assert seen == [DEADLINE]  # 2027-01-15T08:00:00Z (1_800_000_000) + 20 s
    seen.clear()
    with pytest.raises(Stop):
        handler(EVENT, None)
    assert seen == [None]  # outside a request-bound workflow (e.g. a STANDARD one's SendEmail)


# -- end to end on moto: the steps whose commit is a transaction -------------------------------


@pytest.fixture
def tokens(initialised: str, test_config: Any) -> dict[str, Any]:
    """What IssueTokens needs beside its table: the signing keys, a clock, the configuration."""
    from steps.core.signing_keys import load_signing_keys

    return {"key_set": load_signing_keys(), "clock": ManualClock(NOW), "config": test_config}


ALICE = UserRecord(
    user_id="u-1",
    email="alice@example.com",
    password_hash="old-hash",
    name="Alice",
    roles=("user",),
    status="active",
    created_at="2025-01-01T00:00:00Z",
)


class SlowReads:
    """A client whose reads move the injected clock forward (a step slowed down under load)."""

    def __init__(self, client: Any, now: list[float], seconds_per_read: float) -> None:
        self.client, self.now, self.step = client, now, seconds_per_read

    def __getattr__(self, operation: str) -> Any:
        call = getattr(self.client, operation)
        if operation not in ("get_item", "batch_get_item", "query"):
            return call

        def read(**request: Any) -> Any:
            self.now[0] += self.step
            return call(**request)

        return read


def _issue_code(client: Any, kind: str, code: str) -> None:
    issue(
        Table(client, TABLE),
        KEY,
        kind=kind,
        user_id=ALICE.user_id,
        email=ALICE.email,
        now=NOW,
        settings=SETTINGS,
        task_token="task-1",
        generate=lambda: Secrets(code, "t" * 43),
    )


def test_a_late_verification_spends_no_code_verifies_nothing_and_starts_no_session(
    dynamodb: Any, tokens: dict[str, Any]
) -> None:
    """CheckCode only checks; IssueTokens commits the session, the verified flag and the spent
    code together, so a late (or failed) commit leaves the code usable for the client's retry."""
    client = dynamodb
    Table(client, TABLE).put(user_item(ALICE))
    _issue_code(client, VERIFY_KIND, "123456")
    event = api_event({"email": ALICE.email, "code": "123456"})
    checked = verify_for_state(
        event, table=Table(client, TABLE), key=KEY, now=NOW, settings=SETTINGS
    )
    step_input = {
        "user": checked["user"],
        "context": checked["context"],
        "verification": {"kind": VERIFY_KIND, "task_token": checked["task_token"]},
    }
    now = [DEADLINE - 1]
    late = Table(SlowReads(client, now, 1.5), TABLE, commit_by=DEADLINE, clock=lambda: now[0])
    late.get(user_key(ALICE.email))  # the step ran long: its reads took it past the deadline
    with pytest.raises(DeadlinePassed):
        issue_tokens_for_state(step_input, table=late, **tokens)
    plain = Table(client, TABLE)

    def state() -> tuple[bool, bool, int]:
        stored = user_from_item(plain.get(user_key(ALICE.email)))
        assert stored is not None
        items = client.scan(TableName=TABLE)["Items"]
        families = [i for i in items if i["entity"]["S"] == "refresh_family"]
        pending = plain.get(pending_key(VERIFY_KIND, ALICE.user_id)) is not None
        return stored.email_verified is True, pending, len(families)

    assert state() == (False, True, 0)  # nothing: the code still works
    # The client's retry, in time: verified, spent and signed in together.
    in_time = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE - 10)
    body = issue_tokens_for_state(step_input, table=in_time, **tokens)
    assert body["refresh_token"]
    assert state() == (True, False, 1)
    # The same check again finds the code spent: the commit is refused, nothing more written.
    with pytest.raises(CodeExpired):
        issue_tokens_for_state(step_input, table=Table(client, TABLE), **tokens)
    assert state() == (True, False, 1)


def test_a_late_password_reset_stores_no_hash_and_spends_no_code(dynamodb: Any) -> None:
    client = dynamodb
    Table(client, TABLE).put(user_item(ALICE))
    _issue_code(client, RESET_KIND, "654321")
    event = {
        "user": {"id": ALICE.user_id, "email": ALICE.email},
        "password_hash": "new-hash",
        "task_token": "task-1",
    }
    late = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE + 0.001)
    with pytest.raises(DeadlinePassed):
        store_for_state(event, table=late, now=NOW)
    plain = Table(client, TABLE)
    stored = user_from_item(plain.get(user_key(ALICE.email)))
    assert stored is not None and stored.password_hash == "old-hash"
    assert plain.get(pending_key(RESET_KIND, ALICE.user_id)) is not None
    in_time = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE)
    assert store_for_state(event, table=in_time, now=NOW) == {"revoked": 0}
    stored = user_from_item(plain.get(user_key(ALICE.email)))
    assert stored is not None and stored.password_hash == "new-hash"
    assert plain.get(pending_key(RESET_KIND, ALICE.user_id)) is None


def test_a_late_email_change_confirmation_switches_nothing_and_spends_no_code(
    dynamodb: Any,
) -> None:
    from steps.confirm_email_change import KIND as CHANGE_KIND
    from steps.confirm_email_change import confirm_for_state

    client = dynamodb
    Table(client, TABLE).put(user_item(ALICE))
    new_email = "alice.new@example.com"
    issue(
        Table(client, TABLE),
        KEY,
        kind=CHANGE_KIND,
        user_id=ALICE.user_id,
        email=new_email,
        now=NOW,
        settings=SETTINGS,
        task_token="task-2",
        generate=lambda: Secrets("246810", "t" * 43),
    )
    event = {**api_event({"code": "246810"}), "caller": {"userId": ALICE.user_id}}
    late = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE + 0.001)
    with pytest.raises(DeadlinePassed):
        confirm_for_state(event, table=late, key=KEY, now=NOW, settings=SETTINGS)
    plain = Table(client, TABLE)
    assert plain.get(user_key(ALICE.email)) is not None
    assert plain.get(user_key(new_email)) is None
    assert plain.get(pending_key(CHANGE_KIND, ALICE.user_id)) is not None  # the code still works
    in_time = Table(client, TABLE, commit_by=DEADLINE, clock=lambda: DEADLINE)
    switched = confirm_for_state(event, table=in_time, key=KEY, now=NOW, settings=SETTINGS)
    assert switched["user"] == {"id": ALICE.user_id, "email": new_email, "old_email": ALICE.email}
    assert plain.get(user_key(ALICE.email)) is None
    assert plain.get(user_key(new_email)) is not None
    assert plain.get(pending_key(CHANGE_KIND, ALICE.user_id)) is None  # spent with the switch
    with pytest.raises(CodeExpired):  # the same request again: the code is spent
        confirm_for_state(event, table=Table(client, TABLE), key=KEY, now=NOW, settings=SETTINGS)
