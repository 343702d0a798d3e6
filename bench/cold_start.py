"""Cold start of every Lambda handler: its import (Lambda's init phase) in a fresh interpreter.

For each ``Handler`` of the template's ``AWS::Lambda::Function`` resources (the ``steps.*``
handlers and ``authorizer.handler``), ``python -c "import <module>"`` runs in a new process, as
does a bare ``python -c pass``; all commands are interleaved, run several times, and the medians
are compared: milliseconds above the bare interpreter, and the ratio to it.

From the bundles (the default of ``make bench``): the CDK app is synthesized with its assets
bundled as for a deployment, and each handler is imported from its function's built asset directory
(``cdk.out/asset.<hash>``) by a Python of Lambda's version (3.12) started with ``-I -S``: no site-
packages and no project on the path, only the asset, then what the Lambda runtime provides (boto3
and its dependencies, e.g. the jmespath Powertools imports; the assets leave them out) and the
standard library, as in Lambda (``/var/task`` before ``/var/runtime``). Both the wall time and the
child's CPU time are recorded; the verdict is on CPU time (see ``measure``). A second figure for
the authorizer adds what its first request pays on top: importing boto3 and creating the DynamoDB
client (from the source tree, as boto3 is the runtime's).

    python -m bench.cold_start [runs] [--source]
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


#: Where the CDK app is synthesized with its assets bundled for the cold-start bench.
BUNDLED_SYNTH_DIR = ROOT / ".build" / "bench-bundled-cdk.out"
#: Lambda's Python (the functions' runtime is python3.12); override with this variable.
LAMBDA_PYTHON_ENV = "STEPAUTH_BENCH_LAMBDA_PYTHON"


def lambda_python() -> str:
    """An interpreter of Lambda's Python version (the bundled wheels are built for it)."""
    import glob
    import os
    import shutil

    candidates = [
        os.environ.get(LAMBDA_PYTHON_ENV),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
        shutil.which("python3.12"),  # last: a pyenv shim may exist without a usable version
    ]
    for candidate in candidates:
        if candidate and _runs(candidate):
            return candidate
    raise RuntimeError(f"no Python 3.12 found for the bundles' cold start; set {LAMBDA_PYTHON_ENV}")


def _runs(python: str) -> bool:
    try:
        completed = subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
            [python, "-I", "-S", "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
            capture_output=True,
            check=False,
        )
    except OSError:
        return False
    return completed.returncode == 0


def bundled_assembly(*, fresh: bool = False, directory: Path = BUNDLED_SYNTH_DIR) -> Any:
    """The CDK app synthesized with bundling on (pip for the Lambda platform; minutes at first)."""
    from localcloud.cloud import LOCAL_CONTEXT
    from localcloud.deploy import CloudAssembly, synthesize

    existing = CloudAssembly(directory)
    if not fresh and existing.template_path.exists():
        return existing
    return synthesize(directory, {**LOCAL_CONTEXT, "aws:cdk:bundling-stacks": ["**"]})


def handler_assets(template: dict[str, Any], assembly_dir: Path) -> dict[str, Path]:
    """Per handler, the built asset directory its function's code comes from.

    A function's ``Code.S3Key`` is ``<asset hash>.zip``; the assets manifest maps the hash to the
    directory CDK built (``asset.<hash>``).
    """
    import json

    manifests = sorted(assembly_dir.glob("*.assets.json"))
    files: dict[str, Any] = {}
    for manifest in manifests:
        files.update(json.loads(manifest.read_text()).get("files", {}))
    assets: dict[str, Path] = {}
    for resource_ in template["Resources"].values():
        if resource_["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource_.get("Properties", {})
        handler = properties.get("Handler")
        key = str(properties.get("Code", {}).get("S3Key", ""))
        entry = files.get(key.removesuffix(".zip"))
        if not handler or entry is None:
            continue
        directory = assembly_dir / entry["source"]["path"]
        if directory.is_dir():
            assets.setdefault(handler, directory)
    return assets


#: What the Lambda Python 3.12 runtime provides beside the standard library (boto3 & co.).
LAMBDA_RUNTIME_DIR = ROOT / ".build" / "bench-lambda-runtime"


def lambda_runtime_packages(directory: Path = LAMBDA_RUNTIME_DIR) -> Path:
    """boto3 and its dependencies for Lambda's platform, installed once into ``directory``."""
    if not (directory / "boto3").is_dir():
        subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--platform",
                "manylinux2014_x86_64",
                "--implementation",
                "cp",
                "--python-version",
                "3.12",
                "--only-binary=:all:",
                "--target",
                str(directory),
                "boto3",
            ],
            check=True,
        )
    return directory


def bundle_import_code(handler: str, asset: Path, runtime: Path | None = None) -> str:
    """Import ``handler``'s module with the asset first on the path, then the runtime's packages."""
    paths = [str(asset), *([str(runtime)] if runtime is not None else [])]
    return f"import sys; sys.path[:0] = {paths!r}; {import_code(handler)}"


def run_once(code: str, python: str | None = None, isolated: bool = False) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``python -c code`` in a new process (CPU: the child's user + sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    flags = ["-I", "-S"] if isolated else []
    subprocess.run([python or sys.executable, *flags, "-c", code], cwd=ROOT, check=True)  # noqa: S603
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu


def samples_of(
    codes: list[str], runs: int, python: str | None = None, isolated: bool = False
) -> list[dict[str, list[float]]]:
    for code in codes:  # warm the OS file cache and the .pyc files
        run_once(code, python, isolated)
    samples: list[dict[str, list[float]]] = [{"wall": [], "cpu": []} for _ in codes]
    for _ in range(runs):
        for i, code in enumerate(codes):
            wall, cpu = run_once(code, python, isolated)
            samples[i]["wall"].append(wall)
            samples[i]["cpu"].append(cpu)
    return samples


def measure(template: dict[str, Any], runs: int = 9, bundles: Path | None = None) -> dict[str, Any]:
    """Per handler: medians of wall and CPU time, and the verdict on CPU time above bare.

    With ``bundles`` (a bundled cloud assembly's directory, whose template is ``template``) each
    handler is imported from its built asset by Lambda's Python, isolated; without, from the
    source tree by this interpreter.

    The verdict uses CPU time: a shared, busy machine stretches wall time by whatever else runs,
    while a Lambda init has its vCPU to itself, where wall and CPU time of an import agree.
    """
    handlers = handlers_of(template)
    if bundles is not None:
        assets = handler_assets(template, bundles)
        missing = sorted(set(handlers) - set(assets))
        if missing:
            raise RuntimeError(f"no built asset for {missing} in {bundles}")
        python: str | None = lambda_python()
        runtime = lambda_runtime_packages()
        codes = [BASELINE, *(bundle_import_code(h, assets[h], runtime) for h in handlers)]
        bare, *imports = samples_of(codes, runs, python, isolated=True)
    else:
        python = None
        bare, *imports = samples_of([BASELINE, *(import_code(h) for h in handlers)], runs)
    bare_cpu = statistics.median(bare["cpu"])
    bare_wall = statistics.median(bare["wall"])
    result: dict[str, Any] = {
        "runs": runs,
        "from": "bundles" if bundles is not None else "source",
        "python": python or sys.executable,
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
    if AUTHORIZER_HANDLER in handlers:
        # boto3 is the runtime's, not the asset's: measured from the source tree.
        source_import, first = samples_of([import_code(AUTHORIZER_HANDLER), FIRST_REQUEST], runs)
        result["authorizer_first_request_extra_ms"] = statistics.median(
            first["cpu"]
        ) - statistics.median(source_import["cpu"])
    return result


def report(result: dict[str, Any]) -> list[str]:
    bare, bare_cpu = result["bare_ms"], result["bare_cpu_ms"]
    lines = [
        f"cold start: import from the {result.get('from', 'source')} in a fresh interpreter "
        f"({result.get('python', sys.executable)}; medians of {result['runs']} runs; verdict "
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

    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(arguments[0]) if arguments else 9
    if "--source" in sys.argv:
        template = bench_assembly(fresh=False).template()
        print("\n".join(report(measure(template, runs))))
        return
    bundled = bundled_assembly()
    print("\n".join(report(measure(bundled.template(), runs, bundles=bundled.directory))))


if __name__ == "__main__":
    main()
