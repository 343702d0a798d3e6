"""The command line's exit codes, and which failure gets which.

| code | meaning |
|---|---|
| 0 | done |
| 1 | any other failure (the AWS call was refused, a conflict …) |
| 2 | usage: an unknown option, a malformed value, a missing confirmation |
| 3 | not found: no such user, session, execution, workflow, stack or key set |
| 4 | unreachable: the endpoint cannot be reached, or the credentials are missing or refused |

Scripts can tell "fix the command" (2) from "nothing there" (3) from "try again later or fix
the AWS set-up" (4) without reading the message.
"""

from __future__ import annotations

from .target import TargetError

OK = 0
FAILED = 1
USAGE = 2
NOT_FOUND = 3
UNREACHABLE = 4


class UsageError(TargetError):
    """The command line itself is wrong (a value argparse cannot check)."""


class NotFound(TargetError):
    """The named thing does not exist in the target stack."""


class Unreachable(TargetError):
    """The endpoint cannot be reached or the credentials are refused."""


#: botocore exceptions (by class name, to keep botocore out of import time) that mean the
#: endpoint or the credentials, not the request.
_UNREACHABLE_ERRORS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ProxyConnectionError",
        "SSLError",
        "NoCredentialsError",
        "PartialCredentialsError",
        "ProfileNotFound",
        "NoRegionError",
        "SSOTokenLoadError",
        "TokenRetrievalError",
        "UnauthorizedSSOTokenError",
        "CredentialRetrievalError",
    }
)
#: AWS error codes that mean the credentials, not the request.
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AccessDeniedException",
    }
)
_NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "StateMachineDoesNotExist"})


def _is_unreachable(error: BaseException) -> bool:
    return any(cls.__name__ in _UNREACHABLE_ERRORS for cls in type(error).__mro__)


def _aws_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def exit_code(error: BaseException) -> int:
    """The exit code for ``error`` (see the module's table)."""
    if isinstance(error, UsageError):
        return USAGE
    if isinstance(error, NotFound):
        return NOT_FOUND
    if isinstance(error, Unreachable):
        return UNREACHABLE
    # A TargetError raised while handling a botocore error (``raise … from None`` keeps it as
    # the context): the botocore error says which.
    cause = error.__context__ if isinstance(error, TargetError) else error
    if cause is None:
        return FAILED
    if _is_unreachable(cause) or _aws_code(cause) in _CREDENTIAL_CODES:
        return UNREACHABLE
    code = _aws_code(cause)
    if code in _NOT_FOUND_CODES:
        return NOT_FOUND
    if code == "ValidationError" and "does not exist" in str(cause):  # CloudFormation's stack
        return NOT_FOUND
    status = getattr(cause, "status", None)  # stepauth's own client errors
    if status == 404:
        return NOT_FOUND
    if status in (400, 413):
        return USAGE
    return FAILED
