"""Cold start of every Lambda handler: its import (Lambda's init phase) in a fresh interpreter.

For each ``Handler`` of the template's ``AWS::Lambda::Function`` resources (the ``steps.*``
handlers and ``authorizer.handler``), ``python -c "import <module>"`` runs in a new process, as
does a bare ``python -c pass``; all commands are interleaved, run several times, and the medians
are compared: milliseconds above the bare interpreter, and the ratio to it. Both the wall time
and the child's CPU time are recorded; the verdict is on CPU time (see ``measure``). A second
figure for the authorizer adds what its first request pays on top: importing boto3 and creating
the DynamoDB client.

    python -m bench.cold_start [runs]
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import summary

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "pass"
AUTHORIZER_HANDLER = "authorizer.handler.handler"
FIRST_REQUEST = (
    "import os; os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1'); "
    "import authorizer.handler; from steps.core.aws import client; client('dynamodb')"
)
#: Targets, in ms above a bare interpreter start.
AUTHORIZER_TARGET_MS = 150.0
STEP_TARGET_MS = 250.0


def handlers_of(template: dict[str, Any]) -> list[str]:
    """Every Lambda handler of the template, e.g. ``steps.issue_tokens.handler``."""
    return sorted(
        {
            item["Properties"]["Handler"]
            for item in template["Resources"].values()
            if item["Type"] == "AWS::Lambda::Function" and item.get("Properties", {}).get("Handler")
        }
    )


def import_code(handler: str) -> str:
    return f"import {handler.rpartition('.')[0]}"


def target_ms(handler: str) -> float:
    return AUTHORIZER_TARGET_MS if handler == AUTHORIZER_HANDLER else STEP_TARGET_MS


def run_once(code: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``python -c code`` in a new process (CPU: the child's user + sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)  # noqa: S603
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu


def samples_of(codes: list[str], runs: int) -> list[dict[str, list[float]]]:
    for code in codes:  # warm the OS file cache and the .pyc files
        run_once(code)
    samples: list[dict[str, list[float]]] = [{"wall": [], "cpu": []} for _ in codes]
    for _ in range(runs):
        for i, code in enumerate(codes):
            wall, cpu = run_once(code)
            samples[i]["wall"].append(wall)
            samples[i]["cpu"].append(cpu)
    return samples


def measure(template: dict[str, Any], runs: int = 9) -> dict[str, Any]:
    """Per handler: medians of wall and CPU time, and the verdict on CPU time above bare.

    The verdict uses CPU time: a shared, busy machine stretches wall time by whatever else runs,
    while a Lambda init has its vCPU to itself, where wall and CPU time of an import agree.
    """
    handlers = handlers_of(template)
    codes = [BASELINE, FIRST_REQUEST, *(import_code(h) for h in handlers)]
    bare, first, *imports = samples_of(codes, runs)
    bare_cpu = statistics.median(bare["cpu"])
    bare_wall = statistics.median(bare["wall"])
    result: dict[str, Any] = {
        "runs": runs,
        "bare_ms": summary(bare["wall"]),
        "bare_cpu_ms": summary(bare["cpu"]),
        "handlers": {},
    }
    for handler, samples in zip(handlers, imports, strict=True):
        cpu = statistics.median(samples["cpu"])
        wall = statistics.median(samples["wall"])
        result["handlers"][handler] = {
            "import_ms": summary(samples["wall"]),
            "import_cpu_ms": summary(samples["cpu"]),
            "above_bare_ms": cpu - bare_cpu,
            "above_bare_wall_ms": wall - bare_wall,
            "ratio_to_bare": cpu / bare_cpu,
            "target_above_bare_ms": target_ms(handler),
            "met": cpu - bare_cpu <= target_ms(handler),
        }
    authorizer = result["handlers"].get(AUTHORIZER_HANDLER)
    if authorizer is not None:
        result["authorizer_first_request_extra_ms"] = (
            statistics.median(first["cpu"]) - authorizer["import_cpu_ms"]["median"]
        )
    return result


def report(result: dict[str, Any]) -> list[str]:
    bare, bare_cpu = result["bare_ms"], result["bare_cpu_ms"]
    lines = [
        f"cold start: import in a fresh interpreter (medians of {result['runs']} runs; verdict "
        "on CPU time)",
        f"  bare interpreter (python -c pass): CPU {bare_cpu['median']:.1f} ms "
        f"(spread {bare_cpu['spread_pct']:.0f}%), wall {bare['median']:.1f} ms "
        f"(spread {bare['spread_pct']:.0f}%)",
        "  handler                                  CPU ms  above bare  x bare  wall above"
        "  target  met",
    ]
    for handler, figures in result["handlers"].items():
        lines.append(
            f"  {handler:<40} {figures['import_cpu_ms']['median']:6.1f}  "
            f"{figures['above_bare_ms']:10.1f}  {figures['ratio_to_bare']:6.2f}  "
            f"{figures['above_bare_wall_ms']:10.1f}  {figures['target_above_bare_ms']:6.0f}  "
            f"{'yes' if figures['met'] else 'NO'}"
        )
    if "authorizer_first_request_extra_ms" in result:
        lines.append(
            "  authorizer first request adds (boto3 + DynamoDB client): "
            f"{result['authorizer_first_request_extra_ms']:.1f} ms CPU"
        )
    return lines


def main() -> None:
    from bench.assembly import bench_assembly

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    template = bench_assembly(fresh=False).template()
    print("\n".join(report(measure(template, runs))))


if __name__ == "__main__":
    main()
