"""Lazily created, process-wide boto3 clients.

boto3 is imported on first use, never at module import (cold start). The endpoint comes from
the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which boto3
honours itself.
"""

from __future__ import annotations

import functools
import os
from typing import Any

# Variables that change which endpoint or region a new client talks to.
_CLIENT_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")


def client(service: str) -> Any:
    """A cached boto3 client for ``service`` (a new one if the endpoint or region changed)."""
    service_env = f"AWS_ENDPOINT_URL_{service.upper()}"
    settings = tuple(os.environ.get(name) for name in (*_CLIENT_ENV, service_env))
    return _client(service, settings)


@functools.lru_cache(maxsize=16)
def _client(service: str, settings: tuple[str | None, ...]) -> Any:
    import boto3

    return boto3.client(service)


def reset_clients() -> None:
    """Forget cached clients (tests)."""
    _client.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``""`` for any other exception).

    Read from the exception's ``response`` so callers need not import botocore.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict):
            return str(error.get("Code", ""))
    return ""
