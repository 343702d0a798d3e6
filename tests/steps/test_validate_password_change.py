"""ValidatePasswordChange: the checks of the request, and the step-up's authentication carried
to the new session (steps/validate_password_change.py)."""

from __future__ import annotations

from typing import Any

import pytest

from steps.core.errors import InvalidRequest, InvalidToken, WeakPassword
from steps.core.table import UserRecord, user_item
from steps.validate_password_change import validate_for_state

from .conftest import api_event

CURRENT = "correct horse battery staple"
NEW = "a different horse, a better staple"
SIGNED_IN = {"amr": ["pwd", "otp"], "acr": "aal2", "auth_time": 1_800_000_000}


@pytest.fixture
def account(table: Any) -> Any:
    table.put(user_item(UserRecord(user_id="u-1", email="ada@example.com", password_hash="-")))
    return table


def change_event(body: Any, **extra: Any) -> dict[str, Any]:
    return {**api_event(body), "caller": {"userId": "u-1", "amr": "", "authTime": "0"}, **extra}


def test_a_change_carries_the_step_ups_authentication_to_the_new_session(account: Any) -> None:
    body = {"current_password": CURRENT, "new_password": NEW, "code": "123456"}
    step_up = {"locked": False, "step_up": "code", "authentication": SIGNED_IN}
    result = validate_for_state(change_event(body, stepUp=step_up), table=account)
    assert result["authentication"] == SIGNED_IN
    assert result["change"] == {
        "email": "ada@example.com",
        "current_password": CURRENT,
        "new_password": NEW,
    }


@pytest.mark.parametrize(
    "extra",
    [
        {},  # a stack or an account without MFA: no step-up
        {"stepUp": {"locked": False, "step_up": "not_needed"}},
        {"stepUp": "not an object"},
        {"stepUp": {"step_up": "code", "authentication": "not an object"}},
    ],
)
def test_without_a_second_factor_the_new_session_has_none(account: Any, extra: Any) -> None:
    body = {"current_password": CURRENT, "new_password": NEW}
    assert validate_for_state(change_event(body, **extra), table=account)["authentication"] is None


def test_the_request_is_checked(account: Any) -> None:
    with pytest.raises(InvalidRequest):
        validate_for_state(change_event({"new_password": NEW}), table=account)
    with pytest.raises(WeakPassword):
        validate_for_state(
            change_event({"current_password": CURRENT, "new_password": CURRENT}), table=account
        )
    gone = {**change_event({"current_password": CURRENT, "new_password": NEW})}
    gone["caller"] = {"userId": "u-404"}
    with pytest.raises(InvalidToken):
        validate_for_state(gone, table=account)
