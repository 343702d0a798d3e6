"""The argon2 floor brackets each login point: measured before and after it, pooled."""

from __future__ import annotations

import pytest

from bench.throughput import pooled


def _floor(operations: int, cpu_s: float, wall_s: float, latency_ms: float) -> dict:
    return {
        "operations": operations,
        "errors": 0,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "rate": operations / wall_s,
        "per_cpu_s": operations / cpu_s,
        "latency_ms_median": latency_ms,
    }


def test_the_two_floors_pool_their_operations_and_seconds() -> None:
    # 20 and 30 verifications per CPU-second: pooled 40 / 1.5 s, not the mean of the rates (25).
    before = _floor(10, 0.5, 0.6, 50.0)
    after = _floor(30, 1.0, 1.2, 33.0)
    floor = pooled(before, after)
    assert floor["operations"] == 40 and floor["errors"] == 0
    assert floor["per_cpu_s"] == pytest.approx(40 / 1.5)
    assert floor["rate"] == pytest.approx(40 / 1.8)
    assert floor["cpu_s"] == pytest.approx(1.5) and floor["wall_s"] == pytest.approx(1.8)
    assert floor["latency_ms_median"] == pytest.approx(41.5)


def test_a_floor_with_no_seconds_pools_to_zero_not_an_error() -> None:
    empty = _floor(0, 1.0, 1.0, 0.0) | {"cpu_s": 0.0, "wall_s": 0.0}
    assert pooled(empty, empty)["per_cpu_s"] == 0.0 and pooled(empty, empty)["rate"] == 0.0
