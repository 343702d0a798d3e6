"""The distribution: what the wheel carries, and an operator CLI that needs boto3 only.

The wheel is built offline from the tracked sources (setuptools from the dev dependencies, no
build isolation). The CLI runs in a child interpreter in which the CDK, moto and the local
cloud cannot be imported, as after a plain ``pip install .``.
"""

from __future__ import annotations

import email
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud, free_port

ROOT = Path(__file__).resolve().parent.parent

#: A child interpreter where the development-only packages do not exist, then the CLI.
_WITHOUT_DEV_PACKAGES = """
import sys
from importlib.abc import MetaPathFinder

DEV_ONLY = {"aws_cdk", "constructs", "cdk_nag", "moto", "localcloud", "cdk", "schemathesis"}


class DevPackagesAbsent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in DEV_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, DevPackagesAbsent())
from stepauth.cli import main

code = main(sys.argv[1:])
assert not DEV_ONLY & {m.split(".")[0] for m in sys.modules}, "a dev-only package was imported"
sys.exit(code)
"""


def operator_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DEV_PACKAGES, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the tracked files (the work tree stays clean)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (built,) = out.glob("stepauth-*.whl")
    return built


def test_the_wheel_carries_the_templates_the_data_and_the_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "cdk" / "mapping_templates").glob("*.vtl")}
    assert templates and {f"cdk/mapping_templates/{n}" for n in templates} <= names
    assert {"steps/data/common_passwords.txt", "stepauth/cost/prices.toml"} <= names
    licences = {n.rsplit("/", 1)[-1] for n in names if "/licenses/" in n}
    assert {"LICENSE", "COMMON_PASSWORDS_LICENSE.txt"} <= licences
    assert not any(n.startswith("tests/") for n in names)


def test_the_metadata_names_the_licence_and_the_command(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(archive.read(metadata_name))
    assert metadata["License-Expression"] == "Apache-2.0"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Version"] == project["version"]
    (entry_points,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    assert "stepauth = stepauth.cli:main" in archive.read(entry_points).decode()


def test_the_licence_file_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in lock.splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for requirement in declared:
        name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        assert name.lower().replace("_", "-") in pinned, name
    assert lock.count("--hash=sha256:") >= len(pinned)


def test_the_cli_needs_no_dev_package_for_help_and_version() -> None:
    for args in (("--help",), ("--version",), ("keys", "list", "--help"), ("cost", "--help")):
        result = operator_cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(("usage: stepauth", "stepauth ")), result.stdout


def test_the_cli_reports_an_unreachable_endpoint_without_dev_packages() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = operator_cli("keys", "list", "--endpoint-url", endpoint)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith(f"stepauth: cannot reach {endpoint}")


def test_synthesizing_without_the_cdk_is_a_clear_message() -> None:
    result = operator_cli("cost")
    assert result.returncode == 1
    assert "synthesizing needs the CDK" in result.stderr and "--template" in result.stderr


def test_the_cli_lists_the_keys_of_a_deployment_with_boto3_only(local_cloud: LocalCloud) -> None:
    result = operator_cli(
        "keys", "list", "--endpoint-url", local_cloud.settings.aws_endpoint, "--output", "json"
    )
    assert result.returncode == 0, result.stderr
    assert '"status": "active"' in result.stdout
    assert result.stderr == ""
