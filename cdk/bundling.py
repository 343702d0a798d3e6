"""Lambda asset bundling without Docker.

The steps package is copied next to manylinux wheels of its runtime dependencies, installed by
the local pip for the Lambda platform (CDK's Docker bundling does not work on machines without a
Docker engine). Then the asset is made the way Lambda loads it best:

* What the Lambda Python runtime provides (boto3, botocore and their dependencies) is removed:
  aws-xray-sdk depends on botocore, and a bundled second botocore would shadow the runtime's
  (bigger asset, slower cold start, and a botocore the runtime never tested).
* Every module is compiled to ``__pycache__/*.cpython-312.pyc`` by a Python 3.12 interpreter
  (``unchecked-hash``: /var/task is read-only and a source timestamp check would only cost a
  stat). Without 3.12 on the build machine the asset ships uncompiled, with a warning: Lambda
  then compiles every module on each cold start.

``tests/test_bundles.py`` imports each asset in a clean 3.12 interpreter with only that asset and
the runtime's boto3 on the path.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# What a step Lambda needs at run time, beside the runtime's own boto3.
# Each function's asset carries only the third-party packages its handler imports.
# [tracer]: the X-Ray SDK, imported at a function's first traced call (steps/core/observability.py).
STEP_REQUIREMENTS = ("aws-lambda-powertools[tracer]>=3.0",)
PASSWORD_STEP_REQUIREMENTS = (*STEP_REQUIREMENTS, "argon2-cffi>=23.1")
# Tokens are signed and verified with cryptography directly (steps/core/signing_keys.py): PyJWT
# does not know RFC 9864's "Ed25519" name.
TOKEN_STEP_REQUIREMENTS = (*STEP_REQUIREMENTS, "cryptography>=42")
# The authorizer verifies JWTs and reads the table; nothing else.
AUTHORIZER_REQUIREMENTS = ("cryptography>=42",)

# Packages the Lambda Python 3.12 runtime provides (import names and distribution names).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
_RUNTIME_DISTRIBUTIONS = (*RUNTIME_PROVIDED, "python_dateutil")
TARGET_PYTHON = (3, 12)

_PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64"),
}


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Copies ``packages`` from the project and pip-installs ``requirements`` for Lambda."""

    def __init__(
        self, packages: tuple[str, ...], requirements: tuple[str, ...], architecture: str
    ) -> None:
        self.packages = packages
        self.requirements = requirements
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *_options: object, **_named: object) -> bool:
        out = Path(output_dir)
        if not self.requirements:  # pip refuses an empty install (the example's function)
            self._copy_packages(out)
            return True
        platform_args: list[str] = []
        for platform in _PLATFORMS[self.architecture]:
            platform_args += ["--platform", platform]
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--disable-pip-version-check",
                *platform_args,
                "--implementation",
                "cp",
                "--python-version",
                "3.12",
                "--only-binary=:all:",
                "--target",
                str(out),
                *self.requirements,
            ],
            check=True,
        )
        drop_runtime_provided(out)
        self._copy_packages(out)
        compile_for_lambda(out)
        return True

    def _copy_packages(self, out: Path) -> None:
        for package in self.packages:
            shutil.copytree(
                PROJECT_ROOT / package,
                out / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )


def drop_runtime_provided(asset: Path) -> list[str]:
    """Removes the packages the Lambda runtime provides; returns what was removed."""
    removed = []
    for entry in sorted(asset.iterdir()):
        name = entry.name
        if name.endswith((".dist-info", ".egg-info")):
            project = name.split("-")[0].lower()
        else:
            project = name.removesuffix(".py").lower()
        if project in _RUNTIME_DISTRIBUTIONS:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(name)
    return removed


def target_python() -> str | None:
    """A Python 3.12 interpreter on this machine (Lambda's runtime version), if there is one.

    ``STEPAUTH_LAMBDA_PYTHON`` names one explicitly; otherwise ``python3.12`` on PATH, then
    pyenv's and uv's installs.
    """
    candidates = [os.environ.get("STEPAUTH_LAMBDA_PYTHON"), shutil.which("python3.12")]
    home = Path.home()
    candidates += sorted(glob.glob(str(home / ".pyenv/versions/3.12*/bin/python3.12")))
    candidates += sorted(
        glob.glob(str(home / ".local/share/uv/python/cpython-3.12*/bin/python3.12"))
    )
    for candidate in candidates:
        if candidate and _is_target_python(candidate):
            return candidate
    return None


def _is_target_python(executable: str) -> bool:
    try:
        answer = subprocess.run(  # noqa: S603 - a candidate interpreter, fixed code
            [executable, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return answer.returncode == 0 and answer.stdout.split() == [str(n) for n in TARGET_PYTHON]


def compile_for_lambda(asset: Path) -> bool:
    """Compiles every module of ``asset`` with Python 3.12; False if no 3.12 is available."""
    python = target_python()
    if python is None:
        warnings.warn(
            "no Python 3.12 found (set STEPAUTH_LAMBDA_PYTHON): the Lambda asset ships "
            "uncompiled and compiles on every cold start",
            stacklevel=2,
        )
        return False
    subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [
            python,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            str(asset),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        # The .pyc files belong in the asset's __pycache__ (Lambda reads them there): a cache
        # prefix (the Makefile sets PYTHONPYCACHEPREFIX) would write them outside it.
        env={k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"},
    )
    return True


def python_code(
    packages: tuple[str, ...], requirements: tuple[str, ...], architecture: str
) -> lambda_.Code:
    """Asset holding ``packages`` plus their dependencies, bundled locally."""
    code = lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        exclude=[
            "*",
            *[f"!{package}" for package in packages],
            *[f"!{p}/**" for p in packages],
            "**/__pycache__",
            "**/*.pyc",
        ],
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LocalPipBundling(packages, requirements, architecture),
            # Unused by local bundling, but part of the asset hash: a change of dependencies
            # or architecture produces a new asset.
            command=["pip", "install", *requirements, "--target", "/asset-output"],
            environment={"ARCHITECTURE": architecture},
        ),
    )
    _BUNDLES[id(code)] = (code, {"packages": list(packages), "requirements": list(requirements)})
    return code


# What each asset made by python_code holds, so that functions can name it in their template
# metadata (tests/test_bundles.py rebuilds each function's asset from it).
_BUNDLES: dict[int, tuple[lambda_.Code, dict[str, list[str]]]] = {}
BUNDLE_METADATA_KEY = "stepauth:bundle"


def bundle_metadata(code: lambda_.Code) -> dict[str, list[str]]:
    """The packages and requirements of an asset made by :func:`python_code`."""
    return _BUNDLES[id(code)][1]
