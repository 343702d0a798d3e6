"""Lazily created, process-wide boto3 clients.

boto3 is imported on first use, never at module import (cold start). The endpoint comes from
the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which boto3
honours itself.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    """A cached boto3 client for ``service``."""
    import boto3

    return boto3.client(service)


def reset_clients() -> None:
    """Forget cached clients (tests, or after the environment changed)."""
    client.cache_clear()
