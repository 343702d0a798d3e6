"""API Gateway TOKEN authorizer for the protected routes.

Answers an allow policy with the context ``{sub, roles, jti, exp}``, or raises
``Exception("Unauthorized")`` (exactly that message: API Gateway turns it into 401). AWS faults
propagate as other errors (API Gateway answers 500, uncached): the authorizer fails closed.

Cold start: PyJWT and cryptography are imported with this module because every token that
gets past the cheap header checks needs them. boto3 is imported on first use only (in
``steps.core.aws``): a rejection of a malformed header never pays for it. Public keys are
cached in-process for 300 s. The token itself is never logged; neither is a success.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from authorizer.bearer import Rejected
from authorizer.check import authorize
from authorizer.keys import PublicKeyCache
from steps.core.clock import Clock, system_clock
from steps.core.config import get_config
from steps.core.public_keys import PublicKeySet, parse_public_jwks, read_public_jwks
from steps.core.table import Table

UNAUTHORIZED = "Unauthorized"


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (Lambda ships stdout to its logs)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


# A plain JSON-lines logger: the authorizer runs on every uncached request, and Powertools
# would add its import time to every cold start.
_log = logging.getLogger("stepauth.authorizer")
if not _log.handlers:
    _handler = _StdoutHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def _log_fact(level: int, message: str, **facts: Any) -> None:
    """One JSON line of safe facts (a reason word, a user id, a jti; never the token)."""
    _log.log(
        level,
        json.dumps(
            {
                "level": logging.getLevelName(level),
                "service": "stepauth",
                "step": "authorizer",
                "message": message,
                **facts,
            }
        ),
    )


def table() -> Table:
    """The service table; the DynamoDB client (and boto3) are created on first use."""
    from steps.core.aws import client

    return Table(client("dynamodb"), get_config().required_table_name)


def load_public_keys() -> PublicKeySet:
    jwks = read_public_jwks(table())
    if jwks is None:
        _log_fact(logging.WARNING, "no public signing keys are published")
        return PublicKeySet()
    return parse_public_jwks(jwks)


_keys = PublicKeyCache(load_public_keys, clock=system_clock)


def handle(
    event: Any, context: Any, *, keys: PublicKeyCache, clock: Clock = system_clock
) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", None)
    try:
        response = authorize(event, keys=keys, table=table, clock=clock, config=get_config())
    except Rejected as rejected:
        _log_fact(logging.INFO, "token rejected", reason=rejected.reason, request_id=request_id)
        # API Gateway turns exactly this (type Exception, message "Unauthorized") into 401.
        raise Exception(UNAUTHORIZED) from None
    except Exception as exc:
        _log_fact(
            logging.ERROR, "authorizer failed", error=type(exc).__name__, request_id=request_id
        )
        raise
    # Nothing is logged on success: the authorizer runs on every uncached request, and API
    # Gateway's access log already records who called what.
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, keys=_keys)
