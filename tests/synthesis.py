"""Several syntheses of the CDK app in one child process (test infrastructure).

``localcloud.deploy.synthesize`` starts one Python process (and one jsii Node runtime) per
synthesis, which costs 15-17 s of start-up on this machine each time. The test session needs the
local cloud's synthesis plus a few variants (other stack names, cdk-nag, uniform registration):
synthesizing them in one process pays that start-up once. Each variant gets the same context as
``synthesize`` gives it (bundling skipped), and its own output folder; a variant that fails to
synthesize leaves its error text instead of failing the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.deploy import PROJECT_ROOT, CloudAssembly

#: Runs in the child: every (outdir, context) pair, errors written beside the output.
_CHILD = """
import json, os, pathlib, traceback
from cdk.app import build_app

for outdir, context in json.loads(os.environ["STEPAUTH_SYNTH_VARIANTS"]):
    try:
        build_app(outdir, context).synth()
    except Exception:
        pathlib.Path(outdir, "synthesis-error.txt").write_text(traceback.format_exc())
"""


@dataclass(frozen=True)
class Synthesis:
    """One variant's cloud assembly, or why it could not be synthesized."""

    assembly: CloudAssembly
    error: str | None

    def require(self) -> CloudAssembly:
        if self.error is not None:
            raise RuntimeError(f"CDK synthesis failed:\n{self.error[-4000:]}")
        return self.assembly


def synthesize_variants(root: Path, contexts: dict[str, dict[str, Any]]) -> dict[str, Synthesis]:
    """Synthesizes every named context into ``root/<name>`` in one child process."""
    jobs = []
    for name, context in contexts.items():
        outdir = root / name
        outdir.mkdir(parents=True, exist_ok=True)
        jobs.append((str(outdir), {"aws:cdk:bundling-stacks": [], **context}))
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "STEPAUTH_SYNTH_VARIANTS": json.dumps(jobs),
    }
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"CDK synthesis failed:\n{result.stderr.strip()[-4000:]}")
    syntheses = {}
    for name in contexts:
        error_file = root / name / "synthesis-error.txt"
        error = error_file.read_text() if error_file.exists() else None
        syntheses[name] = Synthesis(CloudAssembly(root / name), error)
    return syntheses
