import hashlib
import json
import time

import pytest

from steps import (
    disable_user,
    end_sessions,
    issue_tokens,
    rotate_refresh_token,
    validate_logout,
    validate_refresh,
)
from steps.core.errors import InvalidGrant, InvalidRequest, UserNotFound
from steps.core.table import user_key
from steps.core.tokens import hash_refresh_token

from .conftest import api_event

TOKEN = "Q2hhbmdlIG1lIHBsZWFzZSwgaXQncyBhIHRlc3QgdG9rZW4"
CONTEXT = {"sourceIp": "203.0.113.7", "userAgent": "pytest/1.0", "requestId": "req-123"}
CALLER = {"userId": "u-1", "jti": "j-1", "exp": "1700000900"}


@pytest.fixture
def world(world):
    """The handlers use the system clock: so does this world."""
    world.clock.t = time.time()
    return world


# --- validate_refresh -------------------------------------------------------------------


def test_validate_refresh_hashes_the_token_and_drops_it():
    result = validate_refresh.handler(api_event({"refresh_token": TOKEN}), None)
    assert result == {
        "refresh": {"token_hash": hashlib.sha256(TOKEN.encode()).hexdigest()},
        "context": CONTEXT,
    }
    assert TOKEN not in json.dumps(result)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "refresh_token is required."),
        ({"refresh_token": ""}, "refresh_token is required."),
        ({"refresh_token": None}, "refresh_token is required."),
        ({"refresh_token": 12345678901234567890123}, "URL-safe base64"),
        ({"refresh_token": "a" * 19}, "URL-safe base64"),
        ({"refresh_token": "a" * 257}, "URL-safe base64"),
        ({"refresh_token": TOKEN + "="}, "URL-safe base64"),
        ({"refresh_token": TOKEN + "+/"}, "URL-safe base64"),
        ({"refresh_token": TOKEN + " "}, "URL-safe base64"),
        ({"refresh_token": "é" * 30}, "URL-safe base64"),
        (
            {"refresh_token": TOKEN, "grant_type": "refresh_token"},
            "the fields are refresh_token, client_id and scope",
        ),
        ([TOKEN], "must be a JSON object"),
    ],
)
def test_validate_refresh_rejects(body, message):
    with pytest.raises(InvalidRequest, match=message) as info:
        validate_refresh.handler(api_event(body), None)
    assert TOKEN not in str(info.value)


def test_validate_refresh_accepts_the_length_limits():
    for token in ("a" * 20, "-_" * 128):
        assert validate_refresh.handler(api_event({"refresh_token": token}), None)["refresh"]


def test_validate_refresh_rejects_bad_json():
    with pytest.raises(InvalidRequest):
        validate_refresh.handler(api_event(raw=b"refresh_token=abc"), None)


# --- the refresh workflow: validate -> rotate (spend, successor and access token) -----------


def _refresh_workflow(refresh_token):
    validated = validate_refresh.handler(api_event({"refresh_token": refresh_token}), None)
    return rotate_refresh_token.handler(validated, None)


def test_refresh_workflow_through_the_handlers(initialised, world, log_output):
    alice = world.add_user(roles=("user", "admin"))
    login = issue_tokens.handler(
        {
            "user": {"id": "u-1", "email": alice.email, "created_at": alice.created_at},
            "context": CONTEXT,
        },
        None,
    )
    body = _refresh_workflow(login["refresh_token"])
    family_id = world.token(login["refresh_token"]).family_id
    assert set(body) == {"user", "access_token", "token_type", "expires_in", "refresh_token"}
    assert body["user"] == {"id": "u-1", "email": alice.email, "created_at": alice.created_at}
    assert body["expires_in"] == 900
    assert world.token(body["refresh_token"]).family_id == family_id
    assert world.token(login["refresh_token"]).status == "spent"

    # Presented again at once (a lost response, a second tab): the same token, a new access token.
    again = _refresh_workflow(login["refresh_token"])
    assert again["refresh_token"] == body["refresh_token"]
    assert again["access_token"] != body["access_token"]
    newer = _refresh_workflow(body["refresh_token"])

    # An ancestor: reuse, the family is revoked; the step answers whose session it was (ids
    # only) so that the workflow publishes RefreshTokenReuseDetected, then 400 invalid_grant.
    reused = _refresh_workflow(login["refresh_token"])
    assert reused == {"reuse": {"user_id": "u-1", "session_id": family_id}}
    with pytest.raises(InvalidGrant):
        _refresh_workflow(newer["refresh_token"])
    warning = [r for r in log_output.records if r["level"] == "WARNING"]
    assert len(warning) == 1
    assert warning[0]["message"] == "refresh token reuse: family revoked"
    assert (warning[0]["user_id"], warning[0]["family_id"]) == ("u-1", family_id)
    for token in (login["refresh_token"], body["refresh_token"], newer["refresh_token"]):
        assert token not in log_output.text


def test_refresh_refuses_before_spending_without_a_refresh_key(world, dynamodb, secrets):
    from steps.core.signing_keys import initialise_signing_keys

    from .conftest import SECRET_ID

    initialise_signing_keys(secrets, SECRET_ID, world.table)
    alice = world.add_user()
    login = world.login(alice)
    with pytest.raises(Exception) as info:
        _refresh_workflow(login["refresh_token"])
    assert not isinstance(info.value, InvalidGrant)  # a server fault: 503 after the retries
    assert world.token(login["refresh_token"]).status == "active"


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"refresh": {}},
        {"refresh": {"token_hash": "ab"}},
        {"refresh": {"token_hash": TOKEN}},
    ],
)
def test_rotate_rejects_a_garbled_state(event, dynamodb):
    with pytest.raises(ValueError):
        rotate_refresh_token.handler(event, None)


def test_rotate_unknown_token(initialised):
    with pytest.raises(InvalidGrant):
        rotate_refresh_token.handler({"refresh": {"token_hash": hash_refresh_token(TOKEN)}}, None)


# --- validate_logout ----------------------------------------------------------------------


def _logout_event(body=None, *, raw=None, caller=CALLER):
    event = api_event(body, raw=raw) if body is not None or raw is not None else api_event(raw=b"")
    if caller is not None:
        event["caller"] = caller
    return event


@pytest.mark.parametrize(
    "event",
    [
        _logout_event(raw=b""),
        {
            "request": {
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest/1.0",
                "requestId": "req-123",
            },
            "caller": CALLER,
        },
        _logout_event({}),
        _logout_event({"all": False}),
        _logout_event({"refresh_token": None, "all": None}),
    ],
)
def test_validate_logout_without_a_body(event):
    assert validate_logout.handler(event, None) == {
        "logout": {"token_hash": None, "all": False},
        "caller": {"userId": "u-1", "jti": "j-1", "exp": 1700000900},
        "context": CONTEXT,
    }


def test_validate_logout_with_token_and_all():
    result = validate_logout.handler(_logout_event({"refresh_token": TOKEN, "all": True}), None)
    assert result["logout"] == {"token_hash": hash_refresh_token(TOKEN), "all": True}
    assert TOKEN not in json.dumps(result)
    caller = {**CALLER, "exp": 1700000900}
    assert (
        validate_logout.handler(_logout_event({"all": True}, caller=caller), None)["caller"]
        == caller
    )


@pytest.mark.parametrize(
    "body",
    [
        {"all": "yes"},
        {"all": 1},
        {"refresh_token": 5},
        {"refresh_token": "short"},
        {"everything": True},
        {"refresh_token": TOKEN, "jti": "x"},
        [],
    ],
)
def test_validate_logout_rejects_bad_bodies(body):
    with pytest.raises(InvalidRequest):
        validate_logout.handler(_logout_event(body), None)


def test_validate_logout_rejects_a_body_that_is_not_json():
    with pytest.raises(InvalidRequest):
        validate_logout.handler(_logout_event(raw=b"all"), None)


@pytest.mark.parametrize(
    "caller",
    [
        None,
        "u-1",
        {},
        {"userId": "u-1", "jti": "j-1"},
        {"userId": "", "jti": "j-1", "exp": 1},
        {"userId": "u-1", "jti": 7, "exp": 1},
        {"userId": "u-1", "jti": "j-1", "exp": "soon"},
        {"userId": "u-1", "jti": "j-1", "exp": True},
        {"userId": "u-1", "jti": "j-1", "exp": -5},
        {"userId": "u-1", "jti": "j-1", "exp": 1.5},
    ],
)
def test_validate_logout_garbled_caller_is_a_server_fault(caller):
    event = _logout_event({}, caller=caller)
    with pytest.raises(ValueError) as info:
        validate_logout.handler(event, None)
    assert not isinstance(info.value, InvalidRequest)


# --- end_sessions -------------------------------------------------------------------------


def _end(refresh_token=None, *, everything=False, user_id="u-1"):
    state = validate_logout.handler(
        _logout_event(
            {"refresh_token": refresh_token, "all": everything},
            caller={**CALLER, "userId": user_id},
        ),
        None,
    )
    return end_sessions.handler(state, None)


def test_logout_revokes_only_that_family(world):
    alice = world.add_user()
    one, two = world.login(alice), world.login(alice)
    assert _end(one["refresh_token"]) == {"revoked": 1}
    family = world.family_of(one["refresh_token"])
    assert (family.status, family.revoked_reason) == ("revoked", "logout")
    assert world.family_of(two["refresh_token"]).status == "active"
    assert _end(one["refresh_token"]) == {"revoked": 0}  # already revoked
    with pytest.raises(InvalidGrant):
        world.spend(one["refresh_token"])


def test_logout_with_a_rotated_token_ends_the_family(world):
    alice = world.add_user()
    first = world.login(alice)
    world.refresh(first["refresh_token"])
    assert _end(first["refresh_token"]) == {"revoked": 1}  # the spent one still names it


def test_logout_all(world):
    alice, bob = world.add_user(), world.add_user("u-2", "bob@example.com")
    sessions = [world.login(alice) for _ in range(3)]
    bobs = world.login(bob)
    assert _end(everything=True) == {"revoked": 3}
    assert {world.family_of(s["refresh_token"]).revoked_reason for s in sessions} == {"logout_all"}
    assert world.family_of(bobs["refresh_token"]).status == "active"


def test_logout_with_another_users_token_revokes_nothing(world):
    world.add_user()
    bob = world.add_user("u-2", "bob@example.com")
    bobs = world.login(bob)
    assert _end(bobs["refresh_token"], user_id="u-1") == {"revoked": 0}
    assert world.family_of(bobs["refresh_token"]).status == "active"


def test_logout_with_an_unknown_token_or_no_body(world):
    world.add_user()
    assert _end(TOKEN) == {"revoked": 0}
    assert end_sessions.handler(validate_logout.handler(_logout_event(raw=b""), None), None) == {
        "revoked": 0
    }


def test_end_sessions_rejects_a_garbled_state(dynamodb):
    for state in ({}, {"logout": {"all": "x"}, "caller": CALLER}, {"logout": {}, "caller": None}):
        with pytest.raises(ValueError):
            end_sessions.handler(state, None)


# --- disable_user ------------------------------------------------------------------------

ADMIN = {"userId": "admin-1", "jti": "j-9", "exp": "1700000900"}


def test_disable_user_handler(world, log_output):
    alice = world.add_user()
    sessions = [world.login(alice) for _ in range(2)]
    result = disable_user.handler({"userId": "u-1", "caller": ADMIN, "context": CONTEXT}, None)
    assert result == {"user": {"id": "u-1", "email": alice.email, "status": "disabled"}}
    for session in sessions:
        assert world.family_of(session["refresh_token"]).revoked_reason == "user_disabled"
    record = log_output.records[-1]
    assert (record["user_id"], record["admin_id"], record["outcome"]) == (
        "u-1",
        "admin-1",
        "succeeded",
    )
    assert alice.email not in log_output.text


@pytest.mark.parametrize("user_id", ["u-404", "", "x" * 500])
def test_disable_unknown_user_handler(world, user_id):
    world.add_user()
    with pytest.raises(UserNotFound):
        disable_user.handler({"userId": user_id, "caller": ADMIN, "context": CONTEXT}, None)


@pytest.mark.parametrize(
    "event",
    [None, {"userId": 5, "caller": ADMIN}, {"userId": "u-1"}, {"userId": "u-1", "caller": {}}],
)
def test_disable_user_garbled_state(world, event):
    world.add_user()
    with pytest.raises(ValueError):
        disable_user.handler(event, None)
    assert world.table.get(user_key("alice@example.com"))["status"] == {"S": "active"}


def _claims(access_token: str) -> dict:
    import jwt

    return jwt.decode(access_token, options={"verify_signature": False})


@pytest.mark.parametrize("stored", [None, False, True])
def test_access_tokens_name_their_session_and_the_stored_verification(
    initialised, world, stored
) -> None:
    """``sid`` is the refresh family at login and after every refresh; ``email_verified`` is the
    account's stored state (no claim where none is stored: email_verification=off)."""
    alice = world.add_user()
    if stored is not None:
        world.table.client.update_item(
            TableName=world.table.name,
            Key=user_key(alice.email),
            UpdateExpression="SET email_verified = :v",
            ExpressionAttributeValues={":v": {"BOOL": stored}},
        )
    user = {"id": "u-1", "email": alice.email, "created_at": alice.created_at}
    if stored is not None:
        user["email_verified"] = stored  # as the login and register workflows pass it on
    login = issue_tokens.handler({"user": user, "context": CONTEXT}, None)
    family_id = world.token(login["refresh_token"]).family_id
    refreshed = _refresh_workflow(login["refresh_token"])
    replayed = _refresh_workflow(login["refresh_token"])  # within the grace window
    for body in (login, refreshed, replayed):
        claims = _claims(body["access_token"])
        assert claims["sid"] == family_id
        assert claims.get("email_verified") is stored
        assert "email_verified" not in body["user"]  # the API body is unchanged


def _deadline(world, *, seconds_ago: float, within: float = 20) -> dict:
    import datetime

    # Against the wall clock, as Step Functions' StartTime (the clock of expiry may be moved).
    started = datetime.datetime.fromtimestamp(time.time() - seconds_ago, tz=datetime.UTC)
    # As Step Functions writes $$.Execution.StartTime: milliseconds, "Z".
    text = started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"startedAt": text, "withinSeconds": within}


def test_a_refresh_keeps_the_sign_ins_second_factor_and_time_for_the_step_up(
    initialised, world, monkeypatch
) -> None:
    """The family records the MFA sign-in's amr, acr and auth_time; every refreshed access
    token carries them (auth_time stays the sign-in's), so a credential change right after a
    refresh needs no code while the sign-in is under 5 minutes old, and needs one after."""
    from authorizer.policy import allow_response
    from steps.core.clock import ManualClock
    from steps.core.config import get_config
    from steps.core.mfa_step_up import STEP_UP_MAX_AGE_SECONDS, SecondFactorRequired, check_step_up
    from steps.core.signing_keys import load_signing_keys
    from steps.core.table import family_key
    from steps.core.tokens import verify_access_token

    from .test_mfa_core import PlainCipher, enrol

    signed_in = 1_800_000_000
    clock = ManualClock(float(signed_in))
    monkeypatch.setattr(issue_tokens, "system_clock", clock)
    monkeypatch.setattr(rotate_refresh_token, "system_clock", clock)
    alice = world.add_user()
    enrol(world.table, now=signed_in - 60)
    user = {"id": "u-1", "email": alice.email, "created_at": alice.created_at}
    second_factor = {"amr": ["pwd", "otp"], "acr": "aal2", "auth_time": signed_in - 2}
    login = issue_tokens.handler(
        {"user": user, "context": CONTEXT, "authentication": second_factor}, None
    )
    family = world.table.get(family_key(world.token(login["refresh_token"]).family_id))
    assert (family["amr"], family["acr"], family["auth_time"]) == (
        {"L": [{"S": "pwd"}, {"S": "otp"}]},
        {"S": "aal2"},
        {"N": str(signed_in - 2)},
    )

    def claims(access_token: str) -> dict:
        return verify_access_token(
            access_token, key_set=load_signing_keys(), clock=clock, config=get_config()
        )

    def step_up(access_token: str) -> dict:
        """What CheckStepUp answers for this token (the authorizer's context as the caller)."""
        context = allow_response(
            claims(access_token), "arn:aws:execute-api:us-east-1:1:a/live/POST/v1/password"
        )["context"]
        caller = {
            "userId": context["sub"],
            "amr": context["amr"],
            "authTime": str(context["authTime"]),
        }
        event = {"request": {"body": ""}, "caller": caller}
        return check_step_up(
            world.table, PlainCipher(), event, now=clock.now(), config=get_config()
        )

    clock.advance(STEP_UP_MAX_AGE_SECONDS - 60)
    refreshed = _refresh_workflow(login["refresh_token"])
    assert {k: claims(refreshed["access_token"])[k] for k in second_factor} == second_factor
    assert claims(refreshed["access_token"])["iat"] == signed_in + STEP_UP_MAX_AGE_SECONDS - 60
    assert step_up(refreshed["access_token"])["step_up"] == "recent_sign_in"
    replayed = _refresh_workflow(login["refresh_token"])  # within the grace: the same session
    assert claims(replayed["access_token"])["auth_time"] == signed_in - 2

    clock.advance(60)  # the sign-in is now over 5 minutes old: a code is needed again
    later = _refresh_workflow(refreshed["refresh_token"])
    assert {k: claims(later["access_token"])[k] for k in second_factor} == second_factor
    with pytest.raises(SecondFactorRequired):
        step_up(later["access_token"])

    # A sign-in without a second factor records none, and its refreshes carry none.
    plain = issue_tokens.handler({"user": user, "context": CONTEXT}, None)
    plain_claims = claims(_refresh_workflow(plain["refresh_token"])["access_token"])
    assert not {"amr", "acr", "auth_time"} & set(plain_claims)
    with pytest.raises(SecondFactorRequired):
        step_up(_refresh_workflow(plain["refresh_token"])["access_token"])


def test_a_step_past_the_workflows_deadline_commits_nothing(initialised, world) -> None:
    """The client got 503 at the workflow's time-out: a step still running then must not
    create a session (IssueTokens) or spend the token the client still holds (rotation)."""
    from steps.core.deadline import DeadlinePassed

    alice = world.add_user()
    user = {"id": "u-1", "email": alice.email, "created_at": alice.created_at}
    late = _deadline(world, seconds_ago=21)
    with pytest.raises(DeadlinePassed):
        issue_tokens.handler({"user": user, "context": CONTEXT, "deadline": late}, None)
    items = world.table.client.scan(TableName=world.table.name)["Items"]
    assert [i for i in items if i["entity"]["S"] in ("refresh_family", "refresh_token")] == []
    in_time = _deadline(world, seconds_ago=19)
    login = issue_tokens.handler({"user": user, "context": CONTEXT, "deadline": in_time}, None)

    validated = validate_refresh.handler(api_event({"refresh_token": login["refresh_token"]}), None)
    with pytest.raises(DeadlinePassed):
        rotate_refresh_token.handler({**validated, "deadline": late}, None)
    assert world.token(login["refresh_token"]).status == "active"  # still the client's
    body = rotate_refresh_token.handler({**validated, "deadline": in_time}, None)
    assert world.token(body["refresh_token"]).status == "active"
    with pytest.raises(ValueError):  # a garbled deadline is a server fault, never ignored
        rotate_refresh_token.handler({**validated, "deadline": {"startedAt": 1}}, None)


def test_the_deadline_is_elapsed_time_not_the_clock_of_expiry() -> None:
    from steps.core.deadline import DeadlinePassed, check_deadline, commit_deadline

    deadline = commit_deadline({"startedAt": "2026-12-01T10:00:00.000Z", "withinSeconds": 20})
    assert deadline == 1_796_119_220.0
    check_deadline(deadline, now=deadline)  # at the deadline: still in time
    with pytest.raises(DeadlinePassed):
        check_deadline(deadline, now=deadline + 0.001)
    check_deadline(None, now=deadline + 1e9)  # no deadline: a step called outside a workflow
    check_deadline(time.time() + 60)  # the wall clock by default
    for garbled in ("x", {"startedAt": "2026-12-01T10:00:00Z"}, {"withinSeconds": 5}):
        with pytest.raises(ValueError):
            commit_deadline(garbled)
