"""The synthesized stack the benchmarks run on (synthesized as the local cloud does)."""

from __future__ import annotations

from pathlib import Path

from localcloud.cloud import LOCAL_CONTEXT
from localcloud.deploy import PROJECT_ROOT, CloudAssembly, synthesize

BENCH_SYNTH_DIR = PROJECT_ROOT / ".build" / "bench-cdk.out"


def bench_assembly(*, fresh: bool = True, directory: Path = BENCH_SYNTH_DIR) -> CloudAssembly:
    """Synthesizes the CDK app (about 8 s), or reuses the last synthesis when not ``fresh``."""
    existing = CloudAssembly(directory)
    if not fresh and existing.template_path.exists():
        return existing
    return synthesize(directory, LOCAL_CONTEXT)
