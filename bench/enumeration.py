"""Enumeration resistance: a login for an unknown email and one with a wrong password must give
the same answer and take the same time (the unknown email is verified against a dummy hash).

Attempts alternate between the two kinds, one at a time, so both see the same machine load; a
known account takes at most four wrong passwords (the fifth would lock it and answer faster).
The verdict is the ratio of the medians, with the spread of each kind beside it.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from bench.client import ApiClient, signed_up
from bench.stack import StackProcess

PASSWORD = "bench passphrase for the enumeration check"
WRONG = "certainly not the passphrase"
#: "Within noise": the medians differ by at most this fraction.
TOLERANCE = 0.10
FREE_FAILURES = 4


def _timed(api: ApiClient, email: str) -> tuple[float, int, Any]:
    began = time.perf_counter()
    status, body = api.post_json("/v1/login", {"email": email, "password": WRONG})
    return (time.perf_counter() - began) * 1000, status, body


def measure(stack: StackProcess, rounds: int = 40) -> dict[str, Any]:
    api = ApiClient.of(stack.info)
    accounts = []
    for _ in range((rounds + FREE_FAILURES - 1) // FREE_FAILURES):
        email = f"bench-enum-{uuid.uuid4().hex[:12]}@example.com"
        signed_up(api, email, PASSWORD)
        accounts.append(email)
    unknown_ms: list[float] = []
    wrong_ms: list[float] = []
    answers: set[tuple[int, str]] = set()
    for index in range(rounds):
        for kind, email in (
            ("unknown", f"bench-nobody-{uuid.uuid4().hex[:12]}@example.com"),
            ("wrong", accounts[index // FREE_FAILURES]),
        ):
            elapsed, status, body = _timed(api, email)
            answers.add((status, repr(body)))
            (unknown_ms if kind == "unknown" else wrong_ms).append(elapsed)
    unknown, wrong = statistics.median(unknown_ms), statistics.median(wrong_ms)
    ratio = unknown / wrong
    return {
        "rounds": rounds,
        "unknown_email_median_ms": unknown,
        "wrong_password_median_ms": wrong,
        "unknown_email_iqr_ms": _iqr(unknown_ms),
        "wrong_password_iqr_ms": _iqr(wrong_ms),
        "ratio": ratio,
        "tolerance": TOLERANCE,
        "same_answer": len(answers) == 1,
        "met": len(answers) == 1 and abs(ratio - 1) <= TOLERANCE,
    }


def _iqr(values: list[float]) -> float:
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[2] - quartiles[0]


def report(result: dict[str, Any]) -> list[str]:
    return [
        "enumeration: login with an unknown email vs a wrong password "
        f"({result['rounds']} of each, alternating)",
        f"  unknown email  median {result['unknown_email_median_ms']:.1f} ms "
        f"(IQR {result['unknown_email_iqr_ms']:.1f} ms)",
        f"  wrong password median {result['wrong_password_median_ms']:.1f} ms "
        f"(IQR {result['wrong_password_iqr_ms']:.1f} ms)",
        f"  ratio {result['ratio']:.3f} (target 1 ± {result['tolerance']:.2f}); same status and "
        f"body: {result['same_answer']}",
    ]
