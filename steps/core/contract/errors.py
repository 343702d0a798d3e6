"""The client errors: every answer in the contract's error shape, by name.

An answer is ``{"error": <code>, "error_description": <description>}`` with the HTTP status.
A spec's name is the Step Functions error name when a step raises it (the Python class of the
same name in :mod:`steps.core.errors`); the others are answered by a workflow's ``Fail`` state,
a mapping template or an API Gateway response.

``description`` None: the raising step's message is the description (it says what to fix).
``fixed``: the description is the only message, whatever the raiser says, so the client learns
nothing about which cause it was. ``{field}`` placeholders are filled by :meth:`describe`.

How to add an error: see :mod:`steps.core.contract`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    #: None: API Gateway's own status is kept (its DEFAULT_4XX/5XX responses).
    status: int | None
    code: str
    description: str | None = None
    fixed: bool = False

    def describe(self, **fields: Any) -> str:
        if self.description is None:
            raise ValueError(f"{self.name} has no fixed description; the step gives it.")
        return self.description.format(**fields)

    def body(self, **fields: Any) -> dict[str, str]:
        """The answer's JSON object."""
        return {"error": self.code, "error_description": self.describe(**fields)}

    def body_text(self, **fields: Any) -> str:
        """The answer's JSON text, compact (as the workflows and templates write it)."""
        return json.dumps(self.body(**fields), separators=(",", ":"))


# -- raised by the steps (class name = spec name = Step Functions error name) ------------------
INVALID_REQUEST = ErrorSpec("InvalidRequest", 400, "invalid_request")
PAYLOAD_TOO_LARGE = ErrorSpec("PayloadTooLarge", 413, "invalid_request")
WEAK_PASSWORD = ErrorSpec("WeakPassword", 400, "weak_password")
INVALID_CREDENTIALS = ErrorSpec(
    "InvalidCredentials",
    401,
    "invalid_credentials",
    # Unknown user, wrong password and disabled account look the same.
    "The email or password is incorrect.",
    fixed=True,
)
EMAIL_TAKEN = ErrorSpec(
    "EmailTaken", 409, "email_taken", "An account with this email already exists."
)
INVALID_TOKEN = ErrorSpec(
    "InvalidToken",
    401,
    "invalid_token",
    "The access token is missing, invalid, expired or revoked.",
)
INVALID_GRANT = ErrorSpec(
    "InvalidGrant",
    400,  # RFC 6749 5.2
    "invalid_grant",
    "The refresh token is invalid, expired or revoked.",
    fixed=True,
)
#: A spent refresh token presented again: the family is revoked; the client sees InvalidGrant.
REFRESH_TOKEN_REUSED = replace(INVALID_GRANT, name="RefreshTokenReused")
USER_NOT_FOUND = ErrorSpec("UserNotFound", 404, "not_found", "No such user.", fixed=True)
SESSION_NOT_FOUND = ErrorSpec("SessionNotFound", 404, "not_found", "No such session.", fixed=True)
INVALID_CODE = ErrorSpec("InvalidCode", 400, "invalid_code")
CODE_EXPIRED = ErrorSpec("CodeExpired", 400, "code_expired")

# -- multi-factor sign-in (steps/core/mfa.py, mfa_step_up.py; cdk/mfa_workflows.py) ------------
MFA_CODE_REJECTED = ErrorSpec(
    "MfaCodeRejected",
    401,
    "invalid_code",
    "The code is incorrect or was already used.",
    fixed=True,
)
#: A wrong code while confirming an enrolment: the caller is signed in, so 400, not 401.
WRONG_ENROLMENT_CODE = replace(MFA_CODE_REJECTED, name="WrongEnrolmentCode", status=400)
MFA_CHALLENGE_INVALID = ErrorSpec(
    "MfaChallengeInvalid",
    401,
    "invalid_mfa_token",
    "The sign-in challenge is invalid, expired or spent; log in again.",
    fixed=True,
)
MFA_ALREADY_ENABLED = ErrorSpec(
    "MfaAlreadyEnabled",
    409,
    "mfa_already_enabled",
    "Multi-factor sign-in is already on; turn it off first to enrol again.",
    fixed=True,
)
MFA_NOT_ENABLED = ErrorSpec(
    "MfaNotEnabled",
    409,
    "mfa_not_enabled",
    "Multi-factor sign-in is not on for this account.",
    fixed=True,
)
ENROLMENT_NOT_STARTED = ErrorSpec(
    "EnrolmentNotStarted",
    409,
    "mfa_enrolment_not_started",
    "There is no enrolment to confirm (or it expired); start one with POST /v1/mfa/totp.",
    fixed=True,
)
#: mfa=required and the account has no MFA: the Login workflow answers this with an enrolment
#: token beside it (steps/core/mfa_enrollment.py), from a Pass state, not a Fail state.
MFA_ENROLLMENT_REQUIRED = ErrorSpec(
    "MfaEnrollmentRequired",
    403,
    "mfa_enrollment_required",
    "This service requires multi-factor sign-in: enrol first with the enrollment_token "
    "(POST /v1/mfa/totp, then POST /v1/mfa/totp/confirm), then sign in again.",
    fixed=True,
)
SECOND_FACTOR_REQUIRED = ErrorSpec(
    "SecondFactorRequired",
    403,
    "mfa_required",
    "This change needs a recent second factor: send 'code' (or 'recovery_code') with the "
    "request, or sign in again with your authenticator app.",
    fixed=True,
)

# -- answered by the workflows' Fail states and the templates -----------------------------------
BODY_TOO_LARGE = ErrorSpec("BodyTooLarge", 413, "invalid_request", "The request body is too large.")
EMAIL_NOT_VERIFIED = ErrorSpec(
    "EmailNotVerified",
    403,
    "email_not_verified",
    "Verify the email address first: use the emailed code or link "
    "(POST /v1/email/verify/resend sends a new one).",
)
WRONG_CURRENT_PASSWORD = ErrorSpec(
    "WrongCurrentPassword", 401, "invalid_credentials", "The current password is incorrect."
)
WRONG_PASSWORD = ErrorSpec(
    "WrongPassword", 401, "invalid_credentials", "The password is incorrect."
)
CODE_SPENT = ErrorSpec(
    "CodeSpent",
    400,
    "code_expired",
    "The code has expired or was already used; request a new one.",
)
LINK_SPENT = ErrorSpec(
    "LinkSpent",
    400,
    "code_expired",
    "The link has expired or was already used; request a new one.",
)
ACCOUNT_LOCKED = ErrorSpec(
    "AccountLocked",
    429,
    "account_locked",
    "Too many failed sign-in attempts. Try again in {retry_after} seconds.",
)
TEMPORARILY_UNAVAILABLE = ErrorSpec(
    "TemporarilyUnavailable",
    503,
    "temporarily_unavailable",
    "The service is temporarily unavailable; retry shortly.",
)
SIGNING_KEYS_NOT_INITIALISED = ErrorSpec(
    "SigningKeysNotInitialised", 503, "temporarily_unavailable", "Signing keys are not initialised."
)
SERVER_ERROR = ErrorSpec("ServerError", 500, "server_error", "The request could not be completed.")

# -- API Gateway's own answers (cdk/api.py maps its response types to these) ---------------------
INSUFFICIENT_SCOPE = ErrorSpec(
    "InsufficientScope",
    403,
    "insufficient_scope",
    "The access token does not grant this operation.",
)
BAD_REQUEST_PARAMETERS = ErrorSpec(
    "BadRequestParameters",
    400,
    "invalid_request",
    "A required request parameter is missing or invalid.",
)
BAD_REQUEST_BODY = ErrorSpec(
    "BadRequestBody", 400, "invalid_request", "The request body is invalid."
)
SIGNATURE_EXPIRED = ErrorSpec(
    "SignatureExpired", 403, "access_denied", "The request signature has expired."
)
SIGNATURE_INVALID = ErrorSpec(
    "SignatureInvalid", 403, "access_denied", "The request signature is invalid."
)
GATEWAY_TIMEOUT = ErrorSpec(
    "GatewayTimeout",
    504,
    "temporarily_unavailable",
    "The request could not be completed in time; retry later.",
)
API_KEY_INVALID = ErrorSpec("ApiKeyInvalid", 403, "access_denied", "The API key is invalid.")
NO_SUCH_ROUTE = ErrorSpec("NoSuchRoute", 404, "not_found", "No such route.")
SLOW_DOWN = ErrorSpec("SlowDown", 429, "slow_down", "Too many requests; retry later.")
UNSUPPORTED_MEDIA_TYPE = ErrorSpec(
    "UnsupportedMediaType", 415, "invalid_request", "Content-Type must be application/json."
)
REQUEST_REFUSED = ErrorSpec("RequestRefused", 403, "access_denied", "The request was refused.")
REJECTED = ErrorSpec("Rejected", None, "invalid_request", "The request was rejected.")
GATEWAY_SERVER_ERROR = replace(SERVER_ERROR, name="GatewayServerError", status=None)

# -- answered by the local server's front door (localcloud/gateway.py), before any route --------
URI_TOO_LONG = ErrorSpec("UriTooLong", 414, "invalid_request", "The request URI is too long.")
MALFORMED_REQUEST_LINE = ErrorSpec(
    "MalformedRequestLine", 400, "invalid_request", "The request line is malformed."
)
HTTP_VERSION_NOT_SUPPORTED = ErrorSpec(
    "HttpVersionNotSupported", 400, "invalid_request", "The HTTP version is not supported."
)
MALFORMED_REQUEST_TARGET = ErrorSpec(
    "MalformedRequestTarget", 400, "invalid_request", "The request target is malformed."
)
HEADERS_TOO_LARGE = ErrorSpec(
    "HeadersTooLarge", 431, "invalid_request", "The request headers are too large."
)
MALFORMED_HEADER = ErrorSpec(
    "MalformedHeader", 400, "invalid_request", "A request header is malformed."
)
AMBIGUOUS_BODY_LENGTH = ErrorSpec(
    "AmbiguousBodyLength",
    400,
    "invalid_request",
    "Content-Length and Transfer-Encoding cannot both be sent.",
)
UNSUPPORTED_TRANSFER_ENCODING = ErrorSpec(
    "UnsupportedTransferEncoding",
    400,
    "invalid_request",
    "Only the chunked transfer encoding is accepted.",
)
MALFORMED_CONTENT_LENGTH = ErrorSpec(
    "MalformedContentLength", 400, "invalid_request", "The Content-Length header is malformed."
)
MALFORMED_CHUNKED_BODY = ErrorSpec(
    "MalformedChunkedBody", 400, "invalid_request", "The chunked request body is malformed."
)
TRAILERS_TOO_LARGE = ErrorSpec(
    "TrailersTooLarge", 431, "invalid_request", "The request trailers are too large."
)
REQUEST_TIMEOUT = ErrorSpec(
    "RequestTimeout", 408, "invalid_request", "The request was not received in time."
)
#: Every answer of the front door; a body over the limit is BODY_TOO_LARGE (413), as in a workflow.
FRONT_DOOR_ERRORS: tuple[ErrorSpec, ...] = (
    URI_TOO_LONG,
    MALFORMED_REQUEST_LINE,
    HTTP_VERSION_NOT_SUPPORTED,
    MALFORMED_REQUEST_TARGET,
    HEADERS_TOO_LARGE,
    MALFORMED_HEADER,
    AMBIGUOUS_BODY_LENGTH,
    UNSUPPORTED_TRANSFER_ENCODING,
    MALFORMED_CONTENT_LENGTH,
    MALFORMED_CHUNKED_BODY,
    TRAILERS_TOO_LARGE,
    REQUEST_TIMEOUT,
    BODY_TOO_LARGE,
)

CLIENT_ERRORS: dict[str, ErrorSpec] = {
    spec.name: spec
    for spec in (
        INVALID_REQUEST,
        PAYLOAD_TOO_LARGE,
        WEAK_PASSWORD,
        INVALID_CREDENTIALS,
        EMAIL_TAKEN,
        INVALID_TOKEN,
        INVALID_GRANT,
        REFRESH_TOKEN_REUSED,
        USER_NOT_FOUND,
        SESSION_NOT_FOUND,
        INVALID_CODE,
        CODE_EXPIRED,
        MFA_CODE_REJECTED,
        WRONG_ENROLMENT_CODE,
        MFA_CHALLENGE_INVALID,
        MFA_ALREADY_ENABLED,
        MFA_NOT_ENABLED,
        ENROLMENT_NOT_STARTED,
        SECOND_FACTOR_REQUIRED,
        MFA_ENROLLMENT_REQUIRED,
        BODY_TOO_LARGE,
        EMAIL_NOT_VERIFIED,
        WRONG_CURRENT_PASSWORD,
        WRONG_PASSWORD,
        CODE_SPENT,
        LINK_SPENT,
        ACCOUNT_LOCKED,
        TEMPORARILY_UNAVAILABLE,
        SIGNING_KEYS_NOT_INITIALISED,
        SERVER_ERROR,
        INSUFFICIENT_SCOPE,
        BAD_REQUEST_PARAMETERS,
        BAD_REQUEST_BODY,
        SIGNATURE_EXPIRED,
        SIGNATURE_INVALID,
        GATEWAY_TIMEOUT,
        API_KEY_INVALID,
        NO_SUCH_ROUTE,
        SLOW_DOWN,
        UNSUPPORTED_MEDIA_TYPE,
        REQUEST_REFUSED,
        REJECTED,
        GATEWAY_SERVER_ERROR,
        *FRONT_DOOR_ERRORS,  # BODY_TOO_LARGE twice: one entry
    )
}

#: Every OAuth error code the API answers (openapi.yaml's Error.error enum is checked against it).
ERROR_CODES: frozenset[str] = frozenset(spec.code for spec in CLIENT_ERRORS.values())
