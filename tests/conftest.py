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


# The shared test stack runs without email verification, so the suites can register and log
# in at once; tests/test_email_verification.py runs the default (required) in its own server.
TEST_CONTEXT = {**LOCAL_CONTEXT, "email_verification": "off"}


@pytest.fixture(scope="session")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> CloudAssembly:
    """The CDK app synthesized once as the local cloud does (no bundling, local context)."""
    return synthesize(Path(tmp_path_factory.mktemp("cdk.out")), TEST_CONTEXT)


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
