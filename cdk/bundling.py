"""Lambda asset bundling without Docker.

The steps package is copied next to manylinux wheels of its runtime dependencies, installed by
the local pip for the Lambda platform (CDK's Docker bundling does not work on machines without a
Docker engine). boto3 is not bundled: the Lambda runtime provides it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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
        self._copy_packages(out)
        return True

    def _copy_packages(self, out: Path) -> None:
        for package in self.packages:
            shutil.copytree(
                PROJECT_ROOT / package,
                out / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                dirs_exist_ok=True,
            )


def python_code(
    packages: tuple[str, ...], requirements: tuple[str, ...], architecture: str
) -> lambda_.Code:
    """Asset holding ``packages`` plus their dependencies, bundled locally."""
    return lambda_.Code.from_asset(
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
