"""Shared fixtures: one synthesis and one local cloud per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.cloud import LOCAL_CONTEXT, LocalCloud, LocalCloudSettings, free_port
from localcloud.deploy import CloudAssembly, synthesize

# Signing keys, argon2 and tokens must not depend on the developer's AWS set-up.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    """The CDK app synthesized once as the local cloud does (no bundling, local context)."""
    return synthesize(Path(tmp_path_factory.mktemp("cdk.out")), LOCAL_CONTEXT)


@pytest.fixture(scope="session")
def template(cloud_assembly: CloudAssembly) -> dict:
    return cloud_assembly.template()


@pytest.fixture(scope="session")
def local_cloud(cloud_assembly: CloudAssembly) -> Iterator[LocalCloud]:
    """The whole stack on the embedded local cloud, on free ports, for the session."""
    settings = LocalCloudSettings(gateway_port=free_port(), aws_port=free_port())
    cloud = LocalCloud(settings).start(cloud_assembly)
    yield cloud
    cloud.stop()


# Least privilege: every grant of the template must be exercised by some call of the suite.
# The IAM evaluator of the local cloud records which grant allowed each call (localcloud/iam.py);
# after the run the grants nothing used are listed, and with STEPAUTH_REQUIRE_GRANTS_USED=1 (the
# whole suite in CI) any such grant fails the run.
REQUIRE_GRANTS_USED = "STEPAUTH_REQUIRE_GRANTS_USED"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from localcloud import iam

    evaluator = iam.evaluator()
    if evaluator is None or not evaluator.used_grants():
        return
    if evaluator.platform_denials:
        terminalreporter.section("IAM: the service could not act for a role (fails the run)")
        for line in evaluator.platform_denials:
            terminalreporter.write_line(line)
    unused = sorted(str(grant) for grant in evaluator.unused_grants())
    terminalreporter.section("IAM grants no call exercised")
    for line in unused or ["none: every grant of the template was used"]:
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from localcloud import iam

    evaluator = iam.evaluator()
    if evaluator is None:
        return
    if evaluator.platform_denials and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if os.environ.get(REQUIRE_GRANTS_USED) != "1":
        return
    if evaluator.unused_grants() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
