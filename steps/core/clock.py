"""Injectable clock: epoch seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


system_clock: Clock = SystemClock()


@dataclass
class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    t: float = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
