"""The OpenAPI document: it matches the template's routes, and the running API honours it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from localcloud.cloud import LocalCloud
from localcloud.gateway import routes_from_stack
from tests.test_api import Api, new_email

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "openapi.yaml"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def test_the_document_lists_exactly_the_deployed_routes(local_cloud: LocalCloud) -> None:
    document = yaml.safe_load(DOCUMENT.read_text())
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    deployed = {(r.method, r.resource_path) for r in routes_from_stack(local_cloud.stack)}
    assert documented == deployed


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    api = Api(local_cloud)
    session = api.register(new_email()).json()
    # All four phases run. The coverage phase's boundary and negative cases (~210, the most
    # searching part) do not depend on --max-examples; fuzzing and stateful draw 5 cases per
    # operation and link (12 also passed; this bound trims about a quarter of the run).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(DOCUMENT),
            "--url",
            local_cloud.settings.gateway_url,
            "--checks",
            CHECKS,
            "--max-examples",
            "5",
            "--seed",
            "20261122",
            "--header",
            f"Authorization: Bearer {session['access_token']}",
            "--request-timeout",
            "30",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
