"""The login throughput plot: the whole stack against the argon2id floor as concurrency grows."""

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


def plot_login(throughput: dict[str, Any], machine: dict[str, Any], path: Path = PLOT_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = throughput["login"]
    concurrency = [p["concurrency"] for p in points]
    cores = throughput["cores"]
    target = throughput["target_ratio_per_core"]
    keycloak = throughput["keycloak_logins_per_vcpu"]
    figure, (wall, per_core) = plt.subplots(1, 2, figsize=(12, 5.6))

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
