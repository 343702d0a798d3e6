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
