import pytest

from steps.core.table import (
    TTL_ATTRIBUTE,
    RefreshTokenRecord,
    Table,
    UserRecord,
    refresh_token_from_item,
    refresh_token_item,
    refresh_token_key,
    user_from_item,
    user_item,
    user_key,
)

USER = UserRecord(
    user_id="u-1",
    email="alice@example.com",
    password_hash="$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
    name="Alice",
    roles=("user", "admin"),
    status="active",
    created_at="2025-01-01T00:00:00Z",
)


def test_user_key_layout():
    assert user_key("alice@example.com") == {
        "pk": {"S": "USER#alice@example.com"},
        "sk": {"S": "PROFILE"},
    }


def test_user_item_layout_and_round_trip():
    item = user_item(USER)
    assert item["pk"] == {"S": "USER#alice@example.com"}
    assert item["sk"] == {"S": "PROFILE"}
    assert item["gsi1pk"] == {"S": "USERID#u-1"}
    assert item["gsi1sk"] == {"S": "PROFILE"}
    assert item["entity"] == {"S": "user"}
    assert item["roles"] == {"L": [{"S": "user"}, {"S": "admin"}]}
    assert user_from_item(item) == USER


def test_user_from_item_tolerates_missing_optional_attributes():
    item = {
        "user_id": {"S": "u-2"},
        "email": {"S": "bob@example.com"},
        "password_hash": {"S": "h"},
    }
    user = user_from_item(item)
    assert user == UserRecord(user_id="u-2", email="bob@example.com", password_hash="h")
    assert user.roles == ("user",) and user.status == "active" and user.is_active
    assert user_from_item({**item, "roles": {"SS": ["x"]}}).roles == ("x",)
    assert not user_from_item({**item, "status": {"S": "disabled"}}).is_active


@pytest.mark.parametrize("empty", [None, {}])
def test_no_item_is_no_user(empty):
    assert user_from_item(empty) is None


@pytest.mark.parametrize(
    "item",
    [
        {"email": {"S": "a@b.de"}, "password_hash": {"S": "h"}},
        {"user_id": {"S": "u"}, "email": {"S": "a@b.de"}, "password_hash": {"N": "1"}},
        {
            "user_id": {"S": "u"},
            "email": {"S": "a@b.de"},
            "password_hash": {"S": "h"},
            "roles": {"L": [{"N": "1"}]},
        },
    ],
)
def test_malformed_user_items_raise(item):
    with pytest.raises(ValueError):
        user_from_item(item)


def test_user_repr_hides_the_hash():
    assert USER.password_hash not in repr(USER)


def test_refresh_token_item_layout_and_round_trip():
    record = RefreshTokenRecord(
        token_hash="ab" * 32, family_id="fam", user_id="u-1", issued_at=100, expires_at=200
    )
    item = refresh_token_item(record)
    assert item == {
        "pk": {"S": "REFRESH#" + "ab" * 32},
        "sk": {"S": "TOKEN"},
        "family_id": {"S": "fam"},
        "user_id": {"S": "u-1"},
        "issued_at": {"N": "100"},
        "expires_at": {"N": "200"},
        "status": {"S": "active"},
        "entity": {"S": "refresh_token"},
        "gsi1pk": {"S": "USERID#u-1"},
        "gsi1sk": {"S": "REFRESH#fam#100"},
    }
    assert TTL_ATTRIBUTE == "expires_at"
    assert refresh_token_key("ab" * 32) == {k: item[k] for k in ("pk", "sk")}
    assert refresh_token_from_item(item) == record
    assert record.is_expired(200) and not record.is_expired(199)
    with pytest.raises(ValueError):
        refresh_token_from_item({**item, "pk": {"S": "USER#x"}})


def test_table_put_new_is_conditional(dynamodb):
    table = Table(dynamodb, "stepauth-test")
    table.put_new(user_item(USER))
    assert user_from_item(table.get(user_key(USER.email))) == USER
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        table.put_new(user_item(USER))
    assert table.get(user_key("nobody@example.com")) is None
