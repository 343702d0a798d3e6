import pytest

from steps import validate_login, validate_registration
from steps.core.errors import InvalidRequest, PayloadTooLarge, WeakPassword

from .conftest import api_event

PASSWORD = "violet tractor spoon"


def register(body, **kwargs):
    return validate_registration.handler(api_event(body, **kwargs), None)


def login(body, **kwargs):
    return validate_login.handler(api_event(body, **kwargs), None)


def test_registration_success_normalises_everything():
    wide = "ｖｉｏｌｅｔ tractor spoon"
    result = register({"email": "  Alice@Example.COM ", "password": wide, "name": " Alice "})
    assert result == {
        "registration": {"email": "alice@example.com", "password": PASSWORD, "name": "Alice"},
        "context": {"sourceIp": "203.0.113.7", "userAgent": "pytest/1.0", "requestId": "req-123"},
    }


def test_registration_name_is_optional():
    result = register({"email": "a@example.com", "password": PASSWORD})
    assert result["registration"]["name"] == ""
    result = register({"email": "a@example.com", "password": PASSWORD, "name": None})
    assert result["registration"]["name"] == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"password": PASSWORD}, "email is required."),
        ({"email": "", "password": PASSWORD}, "email is required."),
        ({"email": 42, "password": PASSWORD}, "email must be a valid email address."),
        ({"email": "nope", "password": PASSWORD}, "email must be a valid email address."),
        ({"email": "a@example.com"}, "password is required."),
        ({"email": "a@example.com", "password": ""}, "password is required."),
        ({"email": "a@example.com", "password": 12345678901234567}, "password is required."),
        (
            {"email": "a@example.com", "password": PASSWORD, "name": 5},
            "name must be a string of at most 100 characters.",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "name": "n" * 101},
            "name must be a string of at most 100 characters.",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "name": "a\nb"},
            "name must not contain control characters or line breaks.",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "admin": True},
            "The request body has an unknown field; the fields are email, password, name, "
            "client_id and scope.",
        ),
    ],
)
def test_registration_invalid_requests(body, message):
    with pytest.raises(InvalidRequest) as info:
        register(body)
    assert str(info.value) == message


def test_registration_name_trimmed_to_limit():
    result = register({"email": "a@example.com", "password": PASSWORD, "name": " " + "n" * 100})
    assert result["registration"]["name"] == "n" * 100


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short one", "at least 15 characters"),
        ("x" * 129, "at most 128 characters"),
        ("password1234567", "too common"),
        ("alice.smith violet tractor", "email address or the service name"),
        ("violet stepauth tractor", "email address or the service name"),
        ("z" * 20, "repeated character"),
    ],
)
def test_registration_weak_passwords(password, reason):
    with pytest.raises(WeakPassword, match=reason):
        register({"email": "Alice.Smith@example.com", "password": password})


def test_registration_bad_bodies():
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        validate_registration.handler(api_event(raw=b"{oops"), None)
    with pytest.raises(InvalidRequest, match="Content-Type"):
        register({"email": "a@example.com", "password": PASSWORD}, content_type="text/plain")
    with pytest.raises(InvalidRequest, match="could not be read"):
        validate_registration.handler({}, None)


def test_login_success_applies_no_strength_policy():
    result = login({"email": "Bob@Example.com", "password": "ｐａｓｓword"})
    assert result == {
        "credentials": {"email": "bob@example.com", "password": "password"},
        "context": {"sourceIp": "203.0.113.7", "userAgent": "pytest/1.0", "requestId": "req-123"},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "bob@example.com"}, "password is required."),
        ({"email": "bob@example.com", "password": None}, "password is required."),
        ({"email": "bob@example.com", "password": ["x"]}, "password is required."),
        (
            {"email": "bob@example.com", "password": "x" * 129},
            "password must be at most 128 characters long.",
        ),
        ({"password": "x"}, "email is required."),
        ({"email": "bob@", "password": "x"}, "email must be a valid email address."),
        (
            {"email": "b" * 300 + "@example.com", "password": "x"},
            "email must be a valid email address.",
        ),
        (
            {"email": "bob@example.com", "password": "x", "name": "Bob"},
            "The request body has an unknown field; the fields are email, password, client_id "
            "and scope.",
        ),
    ],
)
def test_login_invalid_requests(body, message):
    with pytest.raises(InvalidRequest) as info:
        login(body)
    assert str(info.value) == message


def test_login_duplicate_password_key_rejected():
    raw = b'{"email": "bob@example.com", "password": "a", "password": "b"}'
    with pytest.raises(InvalidRequest, match="same key more than once"):
        validate_login.handler(api_event(raw=raw), None)


def test_too_large_body_is_payload_too_large_for_both_validators(test_config):
    body = {"email": "a@example.com", "password": "x" * test_config.max_body_bytes}
    for handler in (validate_registration.handler, validate_login.handler):
        with pytest.raises(PayloadTooLarge) as info:
            handler(api_event(body), None)
        assert type(info.value).__name__ == "PayloadTooLarge"
