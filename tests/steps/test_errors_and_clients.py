import pytest

from steps.core import aws
from steps.core.errors import (
    ClientError,
    EmailTaken,
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    PayloadTooLarge,
    RefreshTokenReused,
    SigningKeysUnavailable,
    UserNotFound,
    WeakPassword,
)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (InvalidRequest, 400, "invalid_request"),
        (PayloadTooLarge, 413, "invalid_request"),
        (WeakPassword, 400, "weak_password"),
        (InvalidCredentials, 401, "invalid_credentials"),
        (EmailTaken, 409, "email_taken"),
        (InvalidToken, 401, "invalid_token"),
        (InvalidGrant, 400, "invalid_grant"),
        (RefreshTokenReused, 400, "invalid_grant"),
        (UserNotFound, 404, "not_found"),
    ],
)
def test_client_errors(cls, status, code):
    assert issubclass(cls, ClientError)
    assert (cls.status, cls.code) == (status, code)


def test_error_names_are_the_step_functions_error_names():
    names = {
        cls.__name__
        for cls in (
            InvalidRequest,
            PayloadTooLarge,
            WeakPassword,
            InvalidCredentials,
            EmailTaken,
            InvalidToken,
            InvalidGrant,
            RefreshTokenReused,
            UserNotFound,
        )
    }
    assert names == {
        "InvalidRequest",
        "PayloadTooLarge",
        "WeakPassword",
        "InvalidCredentials",
        "EmailTaken",
        "InvalidToken",
        "InvalidGrant",
        "RefreshTokenReused",
        "UserNotFound",
    }


def test_grant_errors_tell_the_client_nothing_more():
    message = "The refresh token is invalid, expired or revoked."
    assert str(InvalidGrant()) == str(InvalidGrant("token spent")) == message
    reused = RefreshTokenReused(user_id="u-1", family_id="f-1")
    assert isinstance(reused, InvalidGrant) and str(reused) == message
    assert (reused.user_id, reused.family_id) == ("u-1", "f-1")
    assert str(UserNotFound("u-1 missing")) == "No such user."


def test_invalid_credentials_message_is_fixed():
    assert str(InvalidCredentials()) == "The email or password is incorrect."
    assert str(InvalidCredentials("user not found")) == "The email or password is incorrect."


def test_signing_keys_unavailable_is_a_server_fault():
    assert not issubclass(SigningKeysUnavailable, ClientError)


def test_clients_are_cached_and_follow_the_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    first = aws.client("dynamodb")
    assert aws.client("dynamodb") is first
    assert first.meta.endpoint_url == "http://127.0.0.1:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4567")
    second = aws.client("dynamodb")
    assert second is not first and second.meta.endpoint_url == "http://127.0.0.1:4567"
    assert aws.client("secretsmanager") is not second


def test_the_dynamodb_client_leaves_validation_to_dynamodb(monkeypatch):
    """botocore's client-side walk of every parameter is skipped for DynamoDB (which validates
    each request itself); the other services' clients keep it."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ParamValidationError

    class Body:
        def stream(self, **_):
            yield b"{}"

    sent = []

    def answer(request, **_):
        sent.append(request.url)
        return AWSResponse(request.url, 200, {}, Body())

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset_clients()
    try:
        dynamodb = aws.client("dynamodb")
        dynamodb.meta.events.register("before-send.dynamodb", answer)
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "x"}}, ConsistentRead="yes")
        assert len(sent) == 1  # sent as it is: DynamoDB answers a bad one (ValidationException)
        with pytest.raises(ParamValidationError):
            aws.client("secretsmanager").get_secret_value(SecretId=5)
    finally:
        aws.reset_clients()
