"""The Makefile's guard rails (the targets that talk to AWS are not run here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_destroy_refuses_without_confirmation() -> None:
    for answer in ("", "y\n", "yes\n", "other-stack\n"):
        result = make("destroy", "STACK_NAME=throwaway", stdin=answer)
        assert result.returncode != 0
        assert "Not confirmed; nothing deleted." in result.stdout
        assert "cdk" not in result.stdout.split("Not confirmed")[-1]


def test_help_lists_every_documented_target() -> None:
    result = make("help")
    assert result.returncode == 0
    for target in (
        "dev",
        "test",
        "synth",
        "bootstrap",
        "diff",
        "deploy",
        "destroy",
        "test-api",
        "bench",
        "all",
        "clean",
        "help",
        "test-fast",
        "lock",
    ):
        assert f"make {target} " in result.stdout, target


def test_destroy_says_what_it_keeps_and_how_to_redeploy() -> None:
    result = make("destroy-leftovers", "STACK_NAME=throwaway")
    assert result.returncode == 0
    assert "aws dynamodb delete-table --table-name throwaway-table" in result.stdout
    assert (
        "aws secretsmanager delete-secret --secret-id throwaway/signing-keys "
        "--force-delete-without-recovery" in result.stdout
    )
    dry_run = make("-n", "destroy", "STACK_NAME=throwaway", "FORCE=1")
    assert "destroy-leftovers" in dry_run.stdout
