"""Errors raised by the step handlers.

The class NAME of an exception is the Step Functions error name (the Lambda runtime reports it
as ``errorType``); the state machines Catch on it. ``str(error)`` becomes the
``error_description`` shown to the API client, so every message is a plain English sentence and
never contains a password, a hash or a token.
"""

from __future__ import annotations


class ClientError(Exception):
    """A request the client must change; maps to an HTTP 4xx response."""

    status: int = 400
    code: str = "invalid_request"


class InvalidRequest(ClientError):
    status = 400
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    """The request body is over MAX_BODY_BYTES (HTTP 413 with the invalid_request code).

    A subclass, so Python code catching InvalidRequest also catches it; Step Functions sees its
    own error name, "PayloadTooLarge".
    """

    status = 413
    code = "invalid_request"


class WeakPassword(ClientError):
    status = 400
    code = "weak_password"


class InvalidCredentials(ClientError):
    status = 401
    code = "invalid_credentials"
    MESSAGE = "The email or password is incorrect."

    def __init__(self, message: str | None = None) -> None:
        # One fixed message: unknown user, wrong password and disabled account look the same.
        super().__init__(self.MESSAGE)


class EmailTaken(ClientError):
    status = 409
    code = "email_taken"


class InvalidToken(ClientError):
    status = 401
    code = "invalid_token"


class SigningKeysUnavailable(Exception):
    """The signing key secret is missing or not initialised (a server fault)."""


class InvalidGrant(ClientError):
    """A refresh token that is unknown, expired, spent, revoked, or whose user is disabled.

    One fixed message for every cause: the client learns nothing about which one it was.
    """

    status = 400  # RFC 6749 5.2
    code = "invalid_grant"
    MESSAGE = "The refresh token is invalid, expired or revoked."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.MESSAGE)


class RefreshTokenReused(InvalidGrant):
    """A spent refresh token was presented again: its whole family has been revoked.

    Same status, code and message as InvalidGrant. ``user_id`` and ``family_id`` are kept as
    attributes (never in the message) for the operator's log. Step Functions sees the error
    name "RefreshTokenReused": a Catch must list it beside "InvalidGrant".
    """

    def __init__(
        self, message: str | None = None, *, user_id: str = "", family_id: str = ""
    ) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.family_id = family_id


class UserNotFound(ClientError):
    status = 404
    code = "not_found"
    MESSAGE = "No such user."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.MESSAGE)


class SessionNotFound(ClientError):
    """The id names no active session of the caller (unknown, someone else's, ended, expired).

    One answer for every cause: the caller learns nothing about other users' sessions.
    """

    status = 404
    code = "not_found"
    MESSAGE = "No such session."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.MESSAGE)
