"""Handlers the local-cloud tests deploy as Lambda functions (run in-process)."""

from __future__ import annotations

import os
from typing import Any


class GreetingRefused(Exception):
    pass


def echo(event: Any, context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "function": context.function_name,
        "setting": os.environ.get("ECHO_SETTING"),
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
    }


def refuse(event: Any, context: Any) -> None:
    raise GreetingRefused("no greetings today")
