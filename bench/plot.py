"""The login throughput plot: the whole stack against the argon2id floor as concurrency grows and
as the table grows.

    python -m bench.plot [bench/results/latest.json]   (draws it again from a run's results)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_PATH = Path(__file__).resolve().parent / "login_throughput.png"


def _series(points: list[dict[str, Any]], key: str) -> tuple[list[float], list[list[float]]]:
    medians = [p[key]["median"] for p in points]
    errors = [
        [p[key]["median"] - p[key]["min"] for p in points],
        [p[key]["max"] - p[key]["median"] for p in points],
    ]
    return medians, errors


def plot_login(
    throughput: dict[str, Any],
    machine: dict[str, Any],
    path: Path = PLOT_PATH,
    scaling: dict[str, Any] | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = throughput["login"]
    concurrency = [p["concurrency"] for p in points]
    cores = throughput["cores"]
    target = throughput["target_ratio_per_core"]
    keycloak = throughput["keycloak_logins_per_vcpu"]
    figure, (wall, per_core, by_size) = plt.subplots(1, 3, figsize=(17, 5.8))

    login, login_err = _series(points, "rate")
    floor, floor_err = _series(points, "floor_rate")
    wall.errorbar(
        concurrency, floor, yerr=floor_err, marker="s", capsize=3, label="argon2id verify/s (floor)"
    )
    wall.plot(
        concurrency,
        [f * target for f in floor],
        "--",
        color="tab:blue",
        alpha=0.6,
        label=f"target: {target:g} x floor",
    )
    wall.errorbar(
        concurrency,
        login,
        yerr=login_err,
        marker="o",
        capsize=3,
        color="tab:red",
        label="login/s through the whole local stack",
    )
    wall.plot(
        concurrency,
        [keycloak * min(c, cores) for c in concurrency],
        ":",
        color="gray",
        label=f"Keycloak sizing: {keycloak:g}/s per vCPU in use",
    )
    wall.set_title("throughput (wall clock)")
    wall.set_ylabel("operations per second")

    login_cpu, login_cpu_err = _series(points, "per_cpu_s")
    floor_cpu, floor_cpu_err = _series(points, "floor_per_cpu_s")
    per_core.errorbar(
        concurrency,
        floor_cpu,
        yerr=floor_cpu_err,
        marker="s",
        capsize=3,
        label="argon2id verifies per CPU-second",
    )
    per_core.plot(
        concurrency,
        [f * target for f in floor_cpu],
        "--",
        color="tab:blue",
        alpha=0.6,
        label=f"target: {target:g} x floor",
    )
    per_core.errorbar(
        concurrency,
        login_cpu,
        yerr=login_cpu_err,
        marker="o",
        capsize=3,
        color="tab:red",
        label="logins per stack CPU-second",
    )
    per_core.axhline(
        keycloak, linestyle=":", color="gray", label=f"Keycloak: {keycloak:g} per vCPU-second"
    )
    for c, value, point in zip(concurrency, login_cpu, points, strict=True):
        per_core.annotate(
            f"{point['ratio_per_core']['median']:.2f} of floor",
            (c, value),
            textcoords="offset points",
            xytext=(0, 12),
            ha="center",
            fontsize=8,
            color="tab:red",
        )
    per_core.set_title("per core (per CPU-second)")
    per_core.set_ylabel("operations per CPU-second")

    for axes in (wall, per_core):
        axes.set_xscale("log", base=2)
        axes.set_xticks(concurrency, [str(c) for c in concurrency])
        axes.set_xlabel("concurrent clients")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    _plot_table_growth(by_size, throughput, scaling)
    a = throughput["argon2"]
    figure.suptitle(
        f"stepauth login vs argon2id floor (m={a['memory_kib']} KiB, t={a['time_cost']}, "
        f"p={a['parallelism']}); {machine['cpu_model']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {machine['date'][:10]}; medians, bars = min..max",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _median_ms(value: float | list[float]) -> float:
    """A figure of bench/scaling.py: one number, or its repeats (then their median)."""
    import statistics

    return statistics.median(value) if isinstance(value, list) else float(value)


def _plot_table_growth(
    axes: Any, throughput: dict[str, Any], scaling: dict[str, Any] | None
) -> None:
    """Logins per stack CPU-second at the table's starting size and with 10,000 more items,
    against the argon2id floor per CPU-second at one client (bench/scaling.py)."""
    axes.set_title("per core, as the table grows (one client)")
    if not scaling:
        axes.text(0.5, 0.5, "scaling not measured", ha="center", transform=axes.transAxes)
        return
    size = scaling["size"]
    items = [size["items_small"], size["items_large"]]
    logins = [
        1000 / _median_ms(size["cpu_ms_per_login_small"]),
        1000 / _median_ms(size["cpu_ms_per_login_large"]),
    ]
    floor = throughput["login"][0]["floor_per_cpu_s"]["median"]
    target = throughput["target_ratio_per_core"]
    axes.plot(items, [floor, floor], marker="s", label="argon2id verifies per CPU-second")
    axes.plot(
        items,
        [floor * target] * 2,
        "--",
        color="tab:blue",
        alpha=0.6,
        label=f"target: {target:g} x floor",
    )
    axes.plot(items, logins, marker="o", color="tab:red", label="logins per stack CPU-second")
    for x, value in zip(items, logins, strict=True):
        axes.annotate(
            f"{value / floor:.2f} of floor",
            (x, value),
            textcoords="offset points",
            xytext=(0, 12),
            ha="center",
            fontsize=8,
            color="tab:red",
        )
    axes.set_xscale("log")
    axes.set_xlabel("items in the table")
    axes.set_ylabel("operations per CPU-second")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)


def main() -> None:
    import json
    import sys

    from bench.run import LATEST

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else LATEST
    results = json.loads(path.read_text())
    print(plot_login(results["throughput"], results["machine"], scaling=results.get("scaling")))


if __name__ == "__main__":
    main()
