"""The paths that read gsi1 right after a write, with the local cloud's index lag switched on
(localcloud/consistency.py): on AWS the index trails the table by a fraction of a second."""

from __future__ import annotations

import json

import boto3
import pytest

from localcloud import consistency
from localcloud.cloud import LocalCloud
from stepauth.cli import main as stepauth
from steps.core.table import Table, user_id_partition
from tests.test_api import PASSWORD, Api, new_email

LAG_SECONDS = 0.5  # below find_user_by_id's 0.7 s of waits
NEW_PASSWORD = "a new and rather long passphrase"  # noqa: S105 - a test password


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Table:
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    return Table(client, local_cloud.stack.outputs["TableName"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_the_switch_hides_fresh_items_from_the_index_only(api: Api, table: Table) -> None:
    with consistency.index_lag(60):
        session = api.register(new_email()).json()
        user_id = session["user"]["id"]
        assert list(table.query_gsi1(user_id_partition(user_id), sk_equals="PROFILE")) == []
        assert api.login(session["user"]["email"]).status == 200  # base-table reads see it
    assert list(table.query_gsi1(user_id_partition(user_id), sk_equals="PROFILE"))


def test_deleting_an_account_right_after_registering_finds_it(api: Api) -> None:
    with consistency.index_lag(LAG_SECONDS):
        session = api.register(new_email()).json()
        deleted = api.call("DELETE", "/v1/me", headers=bearer(session["access_token"]))
    assert deleted.status == 204, deleted.body
    assert api.login(session["user"]["email"]).status == 401


def test_an_admin_disables_a_user_registered_a_moment_ago(
    api: Api, local_cloud: LocalCloud
) -> None:
    admin_email = new_email()
    api.register(admin_email)
    argv = ["users", "grant-role", "--endpoint-url", local_cloud.settings.aws_endpoint]
    assert stepauth([*argv, admin_email, "admin"]) == 0
    admin = api.login(admin_email).json()
    with consistency.index_lag(LAG_SECONDS):
        target = api.register(new_email()).json()
        disabled = api.call(
            "POST",
            f"/v1/admin/users/{target['user']['id']}/disable",
            "{}",
            bearer(admin["access_token"]),
        )
    assert disabled.status == 200, disabled.body
    assert api.login(target["user"]["email"]).status in (401, 403)


def test_the_profile_of_an_account_registered_a_moment_ago_is_a_retry_away(api: Api) -> None:
    """GET /v1/me reads gsi1 directly: while the index trails, a valid token finds no item, and
    the answer is 503 with Retry-After (never a 401 that would log the client out); once the
    index has the item, the same request answers the profile."""
    with consistency.index_lag(60):
        session = api.register(new_email()).json()
        early = api.call("GET", "/v1/me", headers=bearer(session["access_token"]))
        assert early.status == 503, early.body
        assert early.headers["retry-after"] == "1"
        assert early.json()["error"] == "temporarily_unavailable"
    later = api.call("GET", "/v1/me", headers=bearer(session["access_token"]))
    assert later.status == 200, later.body
    assert later.json()["id"] == session["user"]["id"]


def test_the_session_in_use_is_listed_while_the_index_trails(api: Api) -> None:
    """The access token's sid names its session; the list reads it with a consistent GetItem,
    so the session in use is listed (marked current) though gsi1 has none of the user's items."""
    with consistency.index_lag(60):
        session = api.register(new_email()).json()
        listed = api.call("GET", "/v1/sessions", headers=bearer(session["access_token"]))
        assert listed.status == 200, listed.body
        (current,) = listed.json()["sessions"]
        assert current["current"] is True
        refreshed = api.post_json("/v1/token/refresh", {"refresh_token": session["refresh_token"]})
        again = api.call("GET", "/v1/sessions", headers=bearer(refreshed.json()["access_token"]))
        assert [(s["id"], s["current"]) for s in again.json()["sessions"]] == [
            (current["id"], True)
        ]
        logout = json.dumps({"refresh_token": refreshed.json()["refresh_token"]})
        ended = api.call("POST", "/v1/logout", logout, bearer(refreshed.json()["access_token"]))
        assert ended.status == 204
    second = api.login(session["user"]["email"]).json()
    listed = api.call("GET", "/v1/sessions", headers=bearer(second["access_token"]))
    assert [s["current"] for s in listed.json()["sessions"]] == [True]  # the ended one is gone


def test_the_caller_is_found_through_its_session_while_the_index_trails(api: Api) -> None:
    """Routes that act on the caller's own account read it through the token's session (sid:
    the family names the email): no index read, so a lag longer than find_user_by_id's waits
    does not turn them into errors."""
    with consistency.index_lag(60):
        session = api.register(new_email()).json()
        changed = api.call(
            "POST",
            "/v1/password",
            json.dumps({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            bearer(session["access_token"]),
        )
        assert changed.status == 200, changed.body
        deleted = api.call("DELETE", "/v1/me", headers=bearer(changed.json()["access_token"]))
        assert deleted.status == 204, deleted.body
    assert api.login(session["user"]["email"], NEW_PASSWORD).status == 401


def test_a_token_from_before_an_email_change_still_finds_its_account(
    local_cloud: LocalCloud,
) -> None:
    # The session names the old email, so the account is found through the index instead: a
    # second email change (request and confirmation) and a password change with the same token.
    from tests.test_fault_matrix_lifecycle_api import Mailbox

    api, mailbox = Api(local_cloud), Mailbox(local_cloud)
    first = new_email()
    token = api.register(first).json()["access_token"]

    def change_email(new: str) -> None:
        body = json.dumps({"new_email": new, "password": PASSWORD})
        assert api.call("POST", "/v1/me/email", body, bearer(token)).status == 202
        code = json.dumps({"code": mailbox.code(new)})
        confirmed = api.call("POST", "/v1/me/email/verify", code, bearer(token))
        assert confirmed.status == 200, confirmed.body

    second, third = new_email(), new_email()
    change_email(second)
    change_email(third)  # the session's family still says `first`
    assert api.login(third).status == 200
    change = json.dumps({"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    changed = api.call("POST", "/v1/password", change, bearer(token))
    assert changed.status in (200, 204), changed.body
    assert api.login(third, NEW_PASSWORD).status == 200


def test_a_session_refreshes_right_after_an_email_change_while_the_index_trails(
    local_cloud: LocalCloud,
) -> None:
    """The refresh finds the moved account by its id (gsi1) and waits for the index as
    find_user_by_id does: a lag under those waits never logs another tab out."""
    from tests.test_fault_matrix_lifecycle_api import Mailbox

    api, mailbox = Api(local_cloud), Mailbox(local_cloud)
    first = new_email()
    session = api.register(first).json()
    other = api.login(first).json()
    new = new_email()
    with consistency.index_lag(LAG_SECONDS):
        body = json.dumps({"new_email": new, "password": PASSWORD})
        assert api.call("POST", "/v1/me/email", body, bearer(session["access_token"])).status == 202
        code = json.dumps({"code": mailbox.code(new)})
        confirmed = api.call("POST", "/v1/me/email/verify", code, bearer(session["access_token"]))
        assert confirmed.status == 200, confirmed.body
        refreshed = api.post_json("/v1/token/refresh", {"refresh_token": other["refresh_token"]})
    assert refreshed.status == 200, refreshed.body
    assert refreshed.json()["user"]["email"] == new
