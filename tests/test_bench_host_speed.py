"""The bench reads the host's speed at the start of a run, after each part and at the end, and
says when it moved."""

from __future__ import annotations

from bench.machine import HOST_SPEED_TOLERANCE, host_speed_note, host_speed_us
from bench.summary import machine_line

MACHINE = {
    "cpu_model": "Intel(R) Xeon(R) Processor",
    "cores": 2,
    "implementation": "CPython",
    "python": "3.11.7",
    "platform": "Linux",
    "date": "2026-12-01T22:00:00Z",
    "git_commit": "abc1234",
    "load_average_at_start": [1.0, 1.0, 1.0],
    "load_average_at_end": [1.5, 1.0, 1.0],
}


def test_the_probe_times_a_real_verification() -> None:
    assert 1.0 < host_speed_us(rounds=1, calls=50) < 100_000.0


def _readings(*values: float) -> dict[str, float]:
    names = ["at the start", "after the throughput", "after the load", "at the end"]
    return dict(zip(names[: len(values) - 1] + ["at the end"], values, strict=True))


def test_a_steady_host_gets_no_warning() -> None:
    assert host_speed_note(_readings(88.0, 88.0 * (1 + HOST_SPEED_TOLERANCE))) is None
    assert host_speed_note(_readings(88.0 * (1 + HOST_SPEED_TOLERANCE), 88.0)) is None
    assert host_speed_note(_readings(88.0, 95.0, 90.0, 88.0)) is None
    assert host_speed_note({"at the start": 88.0}) is None


def test_a_host_that_slowed_or_sped_up_is_named_with_its_readings() -> None:
    slowed = host_speed_note(_readings(81.0, 120.0))
    assert slowed is not None and "48%" in slowed
    assert "81.0 µs at the start" in slowed and "120.0 µs at the end" in slowed
    sped_up = host_speed_note(_readings(120.0, 81.0))
    assert sped_up is not None and "48%" in sped_up


def test_a_slow_spell_between_two_steady_ends_is_caught() -> None:
    """00:10 on 2 December: the start and the end read 113.6 and 107.5 µs, the middle was slow."""
    spell = host_speed_note(_readings(113.6, 160.0, 110.0, 107.5))
    assert spell is not None and "49%" in spell and "160.0 µs after the throughput" in spell


def test_the_summary_prints_the_readings_and_the_warning() -> None:
    steady = machine_line(
        {
            "machine": {**MACHINE, "host_speed_us_at_start": 88.0, "host_speed_us_at_end": 90.0},
            "elapsed_s": 600,
        }
    )
    assert "88.0 µs at the start, 90.0 µs at the end" in steady
    assert "Warning" not in steady
    moved = machine_line(
        {
            "machine": {**MACHINE, "host_speed_us_at_start": 81.0, "host_speed_us_at_end": 120.0},
            "elapsed_s": 600,
        }
    )
    assert "**Warning**" in moved and "48%" in moved


def test_results_from_before_the_probe_still_summarise() -> None:
    line = machine_line({"machine": MACHINE, "elapsed_s": 600})
    assert "commit abc1234" in line and "ES256" not in line


def test_the_summary_prints_every_reading_of_a_run_that_has_them() -> None:
    readings = {"at the start": 88.0, "after the throughput": 130.0, "at the end": 90.0}
    line = machine_line(
        {
            "machine": {
                **MACHINE,
                "host_speed_us_at_start": 88.0,
                "host_speed_us_at_end": 90.0,
                "host_speed_us": readings,
            },
            "elapsed_s": 600,
        }
    )
    assert "88.0 µs at the start, 130.0 µs after the throughput, 90.0 µs at the end" in line
    assert "**Warning**" in line and "48%" in line
