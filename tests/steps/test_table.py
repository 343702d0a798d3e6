import json

import boto3
import pytest
from botocore.stub import Stubber

from steps.core.table import (
    TTL_ATTRIBUTE,
    RefreshFamilyRecord,
    RefreshTokenRecord,
    Table,
    UserRecord,
    denied_token_item,
    deny_key,
    family_key,
    public_jwks_text_from_item,
    public_keys_item,
    public_keys_key,
    refresh_family_from_item,
    refresh_family_item,
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


def test_spent_refresh_token_round_trip():
    record = RefreshTokenRecord(
        token_hash="cd" * 32,
        family_id="fam",
        user_id="u-1",
        issued_at=100,
        expires_at=200,
        status="spent",
        spent_at=150,
    )
    item = refresh_token_item(record)
    assert item["status"] == {"S": "spent"} and item["spent_at"] == {"N": "150"}
    assert refresh_token_from_item(item) == record
    assert record.is_spent


def test_refresh_family_item_layout_and_round_trip():
    record = RefreshFamilyRecord(
        family_id="fam-1",
        user_id="u-1",
        email="alice@example.com",
        created_at=100,
        last_used_at=150,
        expires_at=1000,
        user_agent="curl/8",
        source_ip="203.0.113.7",
    )
    item = refresh_family_item(record)
    assert item == {
        "pk": {"S": "FAMILY#fam-1"},
        "sk": {"S": "FAMILY"},
        "family_id": {"S": "fam-1"},
        "user_id": {"S": "u-1"},
        "email": {"S": "alice@example.com"},
        "status": {"S": "active"},
        "created_at": {"N": "100"},
        "last_used_at": {"N": "150"},
        "expires_at": {"N": "1000"},
        "user_agent": {"S": "curl/8"},
        "source_ip": {"S": "203.0.113.7"},
        "gsi1pk": {"S": "USERID#u-1"},
        "gsi1sk": {"S": "FAMILY#fam-1"},
        "entity": {"S": "refresh_family"},
    }
    assert family_key("fam-1") == {k: item[k] for k in ("pk", "sk")}
    assert refresh_family_from_item(item) == record
    assert record.is_usable(999) and not record.is_usable(1000)
    revoked = RefreshFamilyRecord(
        **{**record.__dict__, "status": "revoked", "revoked_reason": "reuse", "revoked_at": 160}
    )
    revoked_item = refresh_family_item(revoked)
    assert revoked_item["revoked_reason"] == {"S": "reuse"}
    assert revoked_item["revoked_at"] == {"N": "160"}
    assert refresh_family_from_item(revoked_item) == revoked
    assert not revoked.is_usable(150)
    with pytest.raises(ValueError):
        refresh_family_from_item({**item, "pk": {"S": "REFRESH#x"}})


def test_deny_and_public_keys_layout():
    assert deny_key("j-1") == {"pk": {"S": "DENY#j-1"}, "sk": {"S": "JTI"}}
    assert denied_token_item("j-1", 1234) == {
        "pk": {"S": "DENY#j-1"},
        "sk": {"S": "JTI"},
        "expires_at": {"N": "1234"},
        "entity": {"S": "denied_token"},
    }
    assert public_keys_key() == {"pk": {"S": "SIGNING_KEYS"}, "sk": {"S": "PUBLIC"}}
    item = public_keys_item({"keys": [{"kid": "k"}]}, updated_at=5)
    assert item["updated_at"] == {"N": "5"} and "expires_at" not in item  # never expires
    assert json.loads(public_jwks_text_from_item(item)) == {"keys": [{"kid": "k"}]}
    assert public_jwks_text_from_item(None) is None


def test_from_client_and_conditional_update(dynamodb):
    table = Table.from_client(dynamodb, "stepauth-test")
    assert table.client is dynamodb and table.name == "stepauth-test"
    with pytest.raises(ValueError):
        Table.from_client(dynamodb, "")
    table.put(user_item(USER))

    def set_name(expected):
        return table.update_if(
            user_key(USER.email),
            update="SET #name = :name",
            condition="#status = :status",
            names={"#name": "name", "#status": "status"},
            values={":name": {"S": "Changed"}, ":status": {"S": expected}},
        )

    assert not set_name("disabled")
    assert user_from_item(table.get(user_key(USER.email))).name == "Alice"
    assert set_name("active")
    assert user_from_item(table.get(user_key(USER.email))).name == "Changed"


def test_update_returning_gives_the_written_item_or_none(dynamodb):
    table = Table.from_client(dynamodb, "stepauth-test")
    key = {"pk": {"S": "COUNTER#a"}, "sk": {"S": "C"}}

    def count(condition=None):
        return table.update_returning(
            key,
            update="ADD #n :one",
            condition=condition,
            names={"#n": "n"},
            values={":one": {"N": "1"}},
        )

    assert count()["n"] == {"N": "1"}
    assert count()["n"] == {"N": "2"}  # the new value, from the same request
    assert count(condition="#n > :one")["n"] == {"N": "3"}
    assert count(condition="attribute_not_exists(pk)") is None  # nothing written
    assert table.get(key)["n"] == {"N": "3"}
    table.delete(key)
    assert table.get(key) is None
    table.delete(key)  # deleting what is gone is not an error
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        Table.from_client(dynamodb, "no-such-table").update_returning(
            key, update="ADD #n :one", names={"#n": "n"}, values={":one": {"N": "1"}}
        )


def test_other_update_errors_propagate(dynamodb):
    table = Table.from_client(dynamodb, "no-such-table")
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        table.update_if(
            user_key("a@b.de"),
            update="SET a = :a",
            condition="b = :a",
            names={},
            values={":a": {"S": "x"}},
        )


def test_put_all_new_is_all_or_nothing(dynamodb):
    table = Table.from_client(dynamodb, "stepauth-test")
    table.put(user_item(USER))
    other = UserRecord(user_id="u-2", email="bob@example.com", password_hash="h")
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        table.put_all_new([user_item(other), user_item(USER)])
    assert table.get(user_key(other.email)) is None


def test_query_gsi1_follows_every_page():
    # moto pages only at 1 MB: botocore's Stubber answers in pages of two.
    client = boto3.client("dynamodb", region_name="us-east-1")
    expected = {
        "TableName": "t",
        "IndexName": "gsi1",
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :sk)",
        "ExpressionAttributeNames": {"#pk": "gsi1pk", "#sk": "gsi1sk"},
        "ExpressionAttributeValues": {":pk": {"S": "USERID#u-1"}, ":sk": {"S": "FAMILY#"}},
    }
    items = [{"n": {"N": str(i)}} for i in range(5)]
    with Stubber(client) as stub:
        for start in (0, 2, 4):
            response: dict = {"Items": items[start : start + 2]}
            if start < 4:
                response["LastEvaluatedKey"] = {"pk": {"S": str(start + 2)}}
            params = dict(expected)
            if start:
                params["ExclusiveStartKey"] = {"pk": {"S": str(start)}}
            stub.add_response("query", response, params)
        found = list(Table.from_client(client, "t").query_gsi1("USERID#u-1", sk_prefix="FAMILY#"))
        stub.assert_no_pending_responses()
    assert [i["n"]["N"] for i in found] == ["0", "1", "2", "3", "4"]


def _as_boto3_reads(item):
    """from_item's answer as boto3's deserializer gives it (Decimal integers as int)."""
    from decimal import Decimal

    from boto3.dynamodb.types import TypeDeserializer

    def plain(value):
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else value
        if isinstance(value, list):
            return [plain(entry) for entry in value]
        if isinstance(value, dict):
            return {name: plain(entry) for name, entry in value.items()}
        return value

    return {name: plain(TypeDeserializer().deserialize(value)) for name, value in item.items()}


READ_CASES = {
    "s": {"S": "text"},
    "empty_s": {"S": ""},
    "n": {"N": "1764600000"},
    "negative": {"N": "-42"},
    "zero": {"N": "-0"},
    "leading_zeros": {"N": "007"},
    "38_digits": {"N": "9" * 38},
    "40_digits_of_which_38_count": {"N": "00" + "9" * 38},
    "fraction": {"N": "1.5"},
    "exponent": {"N": "1E+3"},
    "bool": {"BOOL": False},
    "null": {"NULL": True},
    "list": {"L": [{"S": "a"}, {"N": "2"}, {"L": [{"BOOL": True}]}]},
    "map": {"M": {"a": {"N": "3"}, "b": {"M": {"c": {"S": "d"}}}}},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "b": {"B": b"\x00\x01"},
    "bs": {"BS": [b"\x00"]},
}


def test_items_are_read_as_boto3_reads_them():
    """from_item reads the common types itself (no Decimal round trip): the same values."""
    from steps.core.table import from_item

    read = from_item(READ_CASES)
    assert read == _as_boto3_reads(READ_CASES)
    assert type(read["n"]) is int and type(read["fraction"]) is not int


@pytest.mark.parametrize(
    "value",
    [
        {"N": "9" * 39},  # more digits than DynamoDB keeps
        {"N": "x"},
        {"S": "a", "N": "1"},
        {},
        {"X": "1"},
        "plain",
        {"S": 5},
        {"L": [{"N": "9" * 39}]},
        {"SS": ["a", 1]},
    ],
)
def test_odd_values_are_read_or_refused_as_boto3_does(value):
    """Whatever from_item does not read itself is boto3's to read (or refuse: ValueError)."""
    from steps.core.table import from_item

    try:
        expected = _as_boto3_reads({"a": value})
    except (TypeError, ValueError, AttributeError, ArithmeticError):
        with pytest.raises(ValueError):
            from_item({"a": value})
    else:
        assert repr(from_item({"a": value})) == repr(expected)  # NaN is not equal to itself
