"""The facts of the machine a benchmark ran on (figures mean little without them)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> int:
    """The cores this process may run on (the affinity mask, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


#: How far the host's speed may move between two readings of a run before the bench says so:
#: figures near their targets (ratios taken minutes apart, absolute milliseconds) can flip with
#: it on a shared machine.
HOST_SPEED_TOLERANCE = 0.15


def host_speed_us(rounds: int = 3, calls: int = 2000) -> float:
    """How fast this host is now: the best per-call time (µs) of a raw ES256 verification.

    A fixed piece of CPU work, read at the start of a run, after each of its parts and at the
    end; on a shared machine it moves by a fifth or more within minutes, and every figure with
    it.
    """
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public, message = key.public_key(), b"x" * 300
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def host_speed_note(readings: Mapping[str, float]) -> str | None:
    """A warning when the host's speed moved more than :data:`HOST_SPEED_TOLERANCE` between any
    two readings of a run (``{"at the start": µs, "after the throughput": µs, ..., "at the end":
    µs}``, in the order they were taken)."""
    values = [v for v in readings.values() if v > 0]
    if len(values) < 2:
        return None
    change = max(values) / min(values) - 1
    if change <= HOST_SPEED_TOLERANCE:
        return None
    taken = ", ".join(f"{value:.1f} µs {when}" for when, value in readings.items())
    return (
        f"the host's speed moved {change:.0%} during the run (raw ES256 verify {taken}): "
        "figures near a target may flip on a rerun"
    )


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def git_commit() -> str:
    """The commit, with ``+changes`` when the work tree differs from it."""
    commit = (_git("rev-parse", "--short", "HEAD") or "").strip() or "unknown"
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}+changes" if changes else commit


def facts() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cores": cores(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": git_commit(),
        "load_average_at_start": load_average(),
        "host_speed_us_at_start": host_speed_us(),
    }
