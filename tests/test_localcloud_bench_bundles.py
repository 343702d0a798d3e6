"""The cold-start bench finds each handler's built asset (bench/cold_start.py, issue 17 point 7)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import cold_start


def _function(handler: str, asset_hash: str) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": handler,
            "Code": {"S3Bucket": "cdk-assets", "S3Key": f"{asset_hash}.zip"},
        },
    }


def test_each_handler_maps_to_the_asset_directory_cdk_built(tmp_path: Path) -> None:
    template = {
        "Resources": {
            "Login": _function("steps.validate_login.handler", "aaa"),
            "Issue": _function("steps.issue_tokens.handler", "bbb"),
            "Unbuilt": _function("steps.hash_password.handler", "ccc"),
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        }
    }
    files = {
        key: {"source": {"path": f"asset.{key}", "packaging": "zip"}}
        for key in ("aaa", "bbb", "ccc")
    }
    (tmp_path / "StepAuth.assets.json").write_text(json.dumps({"files": files}))
    (tmp_path / "asset.aaa").mkdir()
    (tmp_path / "asset.bbb").mkdir()  # ccc was never built: no directory

    assets = cold_start.handler_assets(template, tmp_path)

    assert assets == {
        "steps.validate_login.handler": tmp_path / "asset.aaa",
        "steps.issue_tokens.handler": tmp_path / "asset.bbb",
    }
    code = cold_start.bundle_import_code(
        "steps.issue_tokens.handler", assets["steps.issue_tokens.handler"]
    )
    assert code.endswith("import steps.issue_tokens")
    assert repr(str(tmp_path / "asset.bbb")) in code


def test_the_runtime_packages_come_after_the_asset_as_on_lambda(tmp_path: Path) -> None:
    """/var/task before /var/runtime: the asset's modules win, boto3 & co. come from the runtime."""
    import subprocess
    import sys

    asset, runtime = tmp_path / "asset", tmp_path / "runtime"
    for folder, origin in ((asset, "asset"), (runtime, "runtime")):
        (folder / "probe").mkdir(parents=True)
        (folder / "probe" / "__init__.py").write_text(f"ORIGIN = {origin!r}\n")
    (runtime / "jmespath_stand_in.py").write_text("ORIGIN = 'runtime'\n")
    code = cold_start.bundle_import_code("probe.handler", asset, runtime)
    code += "; import jmespath_stand_in; print(probe.ORIGIN, jmespath_stand_in.ORIGIN)"
    answer = subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert answer.stdout.split() == ["asset", "runtime"]
