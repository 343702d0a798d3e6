"""The facts of the machine a benchmark ran on (figures mean little without them)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
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
    }
