"""Lambda bundles as Lambda loads them.

Every function of the synthesized template names its bundle in its metadata; each bundle is built
here exactly as ``cdk deploy`` builds it (cdk/bundling.py: manylinux wheels for Python 3.12,
runtime-provided packages removed, compiled by Python 3.12), then each function's handler module
is imported in a clean Python 3.12 interpreter (``-I -S``: no site-packages, no user paths) whose
path holds only that asset and the boto3 set the Lambda runtime provides.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cdk.bundling import (
    BUNDLE_METADATA_KEY,
    RUNTIME_PROVIDED,
    LocalPipBundling,
    drop_runtime_provided,
    target_python,
)

PYTHON_312 = target_python()


@pytest.fixture(autouse=True)
def _python_312() -> None:
    """Skipped without Python 3.12 on a developer machine; in CI (``CI`` set) that fails."""
    if PYTHON_312 is None:
        reason = "no Python 3.12 (Lambda's runtime) found; set STEPAUTH_LAMBDA_PYTHON"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def project_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """logical id -> {handler, bundle} of every stepauth function."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        handler = resource["Properties"].get("Handler", "")
        if handler.split(".")[0] not in ("steps", "authorizer"):
            continue
        found[logical_id] = {
            "handler": handler,
            "bundle": resource.get("Metadata", {}).get(BUNDLE_METADATA_KEY),
        }
    return found


@pytest.fixture(scope="module")
def bundles(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Each distinct bundle of the template, built as for deployment: key -> asset directory."""
    built: dict[str, Path] = {}
    for function in project_functions(template).values():
        bundle = function["bundle"]
        key = json.dumps(bundle, sort_keys=True)
        if bundle is None or key in built:
            continue
        asset = tmp_path_factory.mktemp("asset")
        LocalPipBundling(
            tuple(bundle["packages"]), tuple(bundle["requirements"]), "x86_64"
        ).try_bundle(str(asset))
        built[key] = asset
    return built


@pytest.fixture(scope="module")
def lambda_runtime_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Lambda Python 3.12 runtime provides beside the standard library: boto3 & co."""
    from bench.cold_start import lambda_runtime_packages as install

    return install(tmp_path_factory.mktemp("runtime"))


def test_every_function_names_its_bundle(template: dict[str, Any]) -> None:
    functions = project_functions(template)
    assert functions
    missing = [name for name, f in functions.items() if f["bundle"] is None]
    assert not missing, f"functions without {BUNDLE_METADATA_KEY} metadata: {missing}"


def test_bundles_ship_no_runtime_provided_package(bundles: dict[str, Path]) -> None:
    for asset in bundles.values():
        names = {entry.name.split("-")[0].removesuffix(".py").lower() for entry in asset.iterdir()}
        assert not names & set(RUNTIME_PROVIDED), (asset, sorted(names & set(RUNTIME_PROVIDED)))


def test_every_module_is_compiled_for_python_312(bundles: dict[str, Path]) -> None:
    for asset in bundles.values():
        sources = list(asset.rglob("*.py"))
        assert sources
        uncompiled = [
            source
            for source in sources
            if not (source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc").exists()
        ]
        assert not uncompiled, uncompiled[:5]
        # Compiled with hashes Lambda never needs to check (/var/task is read-only).
        pyc = next(asset.rglob("steps/__pycache__/__init__.cpython-312.pyc")).read_bytes()
        assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, unchecked


IMPORT_CHECK = """
import importlib, json, sys
asset, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [asset, runtime]
module = importlib.import_module(sys.argv[3])
assert callable(module.handler)
import botocore
loaded = {
    name: getattr(m, "__file__", None) or ""
    for name, m in list(sys.modules.items())
}
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "botocore": botocore.__file__,
    "outside": sorted(
        name for name, path in loaded.items()
        if path and not path.startswith((asset, runtime, sys.base_prefix))
    ),
}))
"""


def test_each_handler_imports_in_a_clean_python_312(
    template: dict[str, Any], bundles: dict[str, Path], lambda_runtime_packages: Path
) -> None:
    assert PYTHON_312 is not None
    for logical_id, function in sorted(project_functions(template).items()):
        asset = bundles[json.dumps(function["bundle"], sort_keys=True)]
        module = function["handler"].rpartition(".")[0]
        result = subprocess.run(  # noqa: S603 - our interpreter, fixed code
            [
                PYTHON_312,
                "-I",
                "-S",
                "-c",
                IMPORT_CHECK,
                str(asset),
                str(lambda_runtime_packages),
                module,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
            cwd=asset,
        )
        assert result.returncode == 0, f"{logical_id} ({module}):\n{result.stderr[-3000:]}"
        answer = json.loads(result.stdout)
        assert answer["version"] == [3, 12]
        # The runtime's botocore, never a bundled one.
        assert answer["botocore"].startswith(str(lambda_runtime_packages)), answer["botocore"]
        assert answer["outside"] == [], (logical_id, answer["outside"])


def test_dropping_runtime_packages_keeps_everything_else(tmp_path: Path) -> None:
    for name in ("botocore", "boto3", "wrapt", "aws_xray_sdk"):
        (tmp_path / name).mkdir()
    for name in ("botocore-1.35.0.dist-info", "python_dateutil-2.9.0.dist-info", "six.py"):
        (tmp_path / name).mkdir() if name.endswith("info") else (tmp_path / name).write_text("")
    (tmp_path / "wrapt-1.16.0.dist-info").mkdir()
    removed = drop_runtime_provided(tmp_path)
    assert sorted(removed) == [
        "boto3",
        "botocore",
        "botocore-1.35.0.dist-info",
        "python_dateutil-2.9.0.dist-info",
        "six.py",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aws_xray_sdk",
        "wrapt",
        "wrapt-1.16.0.dist-info",
    ]
