"""The login's Lambda functions as warm Lambda sandboxes run them: the on-AWS handler CPU.

On AWS each function runs in a sandbox of its own, one invocation after another, and a
DynamoDB call's work is DynamoDB's. Inside the local stack the handlers share a process (and
its caches) with the gateway, the interpreter and moto, and the argon2 verification inside
``VerifyPassword`` there costs 1–8 % more than a verification repeated on an otherwise idle
thread: interleaved, an eviction of the 32 MiB L3 cache between verifications costs about 3 %,
and the host's speed drifts between the floor's loop and the stack's point.

So the stack child (``bench/stack.py``, command ``sandbox``) replays the events one real login
gave the login's functions: each function is invoked as the local cloud invokes it
(``localcloud.awslambda.invoke_in_process``: its environment, its IAM role, the JSON
serialization of its answer), in the order the workflow invoked them, on one long-lived thread
of an otherwise idle stack, and each round is followed on the same thread by one bare
verification at the template's argon2 parameters. The recorder measures every invocation as it
does in the stack (CPU less the in-process AWS calls); the figure is the median over rounds of
each round's handler CPU divided by the verification of the same round, so drift between rounds
cancels.

A replayed input is the one the workflow passed, but for its commit deadline
(``steps/core/deadline.py``), which starts when the replay does, as a new execution's would.
"""

from __future__ import annotations

import copy
import datetime
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

#: Rounds replayed and discarded first (caches, connections, the functions' first calls).
WARM_ROUNDS = 5


def with_fresh_deadline(event: Any, now: datetime.datetime) -> Any:
    """A copy of ``event`` whose ``deadline.startedAt`` (if any) is ``now``."""
    replayed = copy.deepcopy(event)
    if isinstance(replayed, dict) and isinstance(replayed.get("deadline"), dict):
        replayed["deadline"]["startedAt"] = now.isoformat().replace("+00:00", "Z")
    return replayed


def replay(
    recorder: Any,
    events: Mapping[str, Any],
    rounds: int,
    memory_kib: int,
    time_cost: int,
    parallelism: int,
) -> dict[str, Any]:
    """In the stack child: ``rounds`` replays of ``events`` (handler -> input, in invocation
    order), each followed by one bare verification; what the recorder measured per handler."""
    from moto.awslambda.models import lambda_backends

    from localcloud import awslambda
    from steps.core.passwords import Argon2Params, PasswordHasher

    functions = {
        function.handler: function
        for regions in lambda_backends.values()
        for backend in regions.values()
        for function in backend.list_functions()
    }
    missing = [handler for handler in events if handler not in functions]
    if missing:
        raise RuntimeError(f"the stack has no function with handler {missing}")
    hasher = PasswordHasher(Argon2Params(memory_kib, time_cost, parallelism))
    password = "a bare verification beside the replayed login"  # noqa: S105 - bench only
    password_hash = hasher.hash(password)
    errors = 0
    floor_cpu_ms: list[float] = []
    for round_ in range(WARM_ROUNDS + rounds):
        if round_ == WARM_ROUNDS:
            recorder.take()
            floor_cpu_ms.clear()
            errors = 0
        now = datetime.datetime.now(datetime.UTC)
        for handler, event in events.items():
            _, errored, _ = awslambda.invoke_in_process(
                functions[handler], with_fresh_deadline(event, now)
            )
            errors += int(errored)
        began = time.thread_time()
        hasher.verify(password_hash, password)
        floor_cpu_ms.append((time.thread_time() - began) * 1000)
    handlers = recorder.take()["handlers"]
    return {
        "rounds": rounds,
        "errors": errors,
        "order": list(events),
        "floor_cpu_ms": floor_cpu_ms,
        "handlers": {
            handler: {key: handlers[handler][key] for key in ("cpu_ms", "service_cpu_ms")}
            for handler in events
            if handler in handlers
        },
    }


#: Issue 17: on AWS, a login's Lambda handlers spend at most 1.15 × one argon2 verification.
LOGIN_TARGET_RATIO = 1.15


def figures(replayed: Mapping[str, Any]) -> dict[str, Any]:
    """The on-AWS login figures of a replay: per round, the handlers' CPU less their AWS calls
    over the round's bare verification; medians."""
    handlers: Mapping[str, Mapping[str, Sequence[float]]] = replayed["handlers"]
    floor: Sequence[float] = replayed["floor_cpu_ms"]
    per_handler = {
        handler: [
            cpu - service for cpu, service in zip(s["cpu_ms"], s["service_cpu_ms"], strict=True)
        ]
        for handler, s in handlers.items()
    }
    if not floor or any(len(samples) != len(floor) for samples in per_handler.values()):
        raise ValueError("a replay needs one sample per handler and round")
    per_round = [sum(samples[i] for samples in per_handler.values()) for i in range(len(floor))]
    ratio = statistics.median(total / bare for total, bare in zip(per_round, floor, strict=True))
    return {
        "rounds": len(floor),
        "errors": replayed["errors"],
        "verify_cpu_ms": statistics.median(floor),
        "login_handlers_cpu_ms": statistics.median(per_round),
        "login_ratio_to_argon2": ratio,
        "login_target_ratio": LOGIN_TARGET_RATIO,
        "met": ratio <= LOGIN_TARGET_RATIO and replayed["errors"] == 0,
        "login_handlers": {h: statistics.median(s) for h, s in per_handler.items()},
    }
