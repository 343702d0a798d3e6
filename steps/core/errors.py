"""Errors raised by the step handlers.

The class NAME of an exception is the Step Functions error name (the Lambda runtime reports it
as ``errorType``); the state machines Catch on it. Status, code and any fixed description come
from the contract's spec of the same name (:mod:`steps.core.contract.errors`): a ClientError
subclass without a spec fails at import. ``str(error)`` becomes the ``error_description`` shown
to the API client, so every message is a plain English sentence and never contains a password,
a hash or a token.
"""

from __future__ import annotations

from typing import ClassVar

from steps.core.contract.errors import CLIENT_ERRORS, INVALID_REQUEST, ErrorSpec


class ClientError(Exception):
    """A request the client must change; maps to an HTTP 4xx response."""

    spec: ClassVar[ErrorSpec] = INVALID_REQUEST
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"
    #: The description when the raiser gives none ("" when the spec has none).
    MESSAGE: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        spec = CLIENT_ERRORS.get(cls.__name__)
        if spec is None or spec.status is None:
            raise TypeError(f"{cls.__name__} has no spec in steps/core/contract/errors.py.")
        cls.spec, cls.status, cls.code = spec, spec.status, spec.code
        cls.MESSAGE = spec.description or ""

    def __init__(self, message: str | None = None) -> None:
        # A fixed description: the client learns nothing about which cause it was.
        if self.spec.fixed or message is None:
            message = self.MESSAGE
        super().__init__(message)


class InvalidRequest(ClientError):
    pass


class PayloadTooLarge(InvalidRequest):
    """The request body is over MAX_BODY_BYTES (HTTP 413 with the invalid_request code).

    A subclass, so Python code catching InvalidRequest also catches it; Step Functions sees its
    own error name, "PayloadTooLarge".
    """


class WeakPassword(ClientError):
    pass


class InvalidCredentials(ClientError):
    pass


class EmailTaken(ClientError):
    pass


class InvalidToken(ClientError):
    pass


class SigningKeysUnavailable(Exception):
    """The signing key secret is missing or not initialised (a server fault)."""


class InvalidGrant(ClientError):
    """A refresh token that is unknown, expired, spent, revoked, or whose user is disabled."""


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
    pass


class SessionNotFound(ClientError):
    """The id names no active session of the caller (unknown, someone else's, ended, expired).

    One answer for every cause: the caller learns nothing about other users' sessions.
    """


class InvalidCode(ClientError):
    """A wrong emailed code (counted toward the limit)."""


class CodeExpired(ClientError):
    """No usable code: expired, spent, unknown, or too many wrong tries."""
