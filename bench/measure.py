"""Measuring on a shared, noisy machine: time-bounded loops, CPU time, medians and spreads."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14, stime field 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def summary(samples: Sequence[float]) -> dict[str, float]:
    """Median, extremes and the spread ((max - min) / median, in %) of repeated samples."""
    if not samples:
        raise ValueError("no samples")
    median = statistics.median(samples)
    low, high = min(samples), max(samples)
    spread = (high - low) / median * 100 if median else 0.0
    return {
        "median": median,
        "min": low,
        "max": high,
        "spread_pct": spread,
        "n": float(len(samples)),
    }


@dataclass
class LoopResult:
    """What a time-bounded loop did: operations, failures, wall and CPU time, latencies."""

    operations: int
    errors: int
    wall_s: float
    cpu_s: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.operations / self.wall_s if self.wall_s else 0.0

    @property
    def latency_ms_median(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def run_for(
    seconds: float,
    workers: int,
    operation: Callable[[int], bool],
    *,
    cpu_clock: Callable[[], float] = time.process_time,
) -> LoopResult:
    """Call ``operation(worker_index)`` from ``workers`` threads until ``seconds`` have passed.

    An operation returns True when it succeeded. Each thread finishes the call it is in when
    time is up; the wall time runs until the last one returns. ``cpu_clock`` is read before and
    after (this process by default; pass another process's clock to charge that one).
    """
    counts = [0] * workers
    errors = [0] * workers
    latencies: list[list[float]] = [[] for _ in range(workers)]
    start_line = threading.Barrier(workers + 1)
    deadline = [0.0]

    def work(index: int) -> None:
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            ok = operation(index)
            latencies[index].append((time.perf_counter() - began) * 1000)
            if ok:
                counts[index] += 1
            else:
                errors[index] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_clock()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return LoopResult(
        operations=sum(counts),
        errors=sum(errors),
        wall_s=wall,
        cpu_s=cpu_clock() - cpu_before,
        latencies_ms=[value for per_worker in latencies for value in per_worker],
    )


def time_per_call_ms(call: Callable[[], Any], seconds: float) -> float:
    """Mean wall time of ``call`` in ms, calling it in a loop for about ``seconds``."""
    count = 0
    began = time.perf_counter()
    deadline = began + seconds
    while True:
        call()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return (now - began) / count * 1000
