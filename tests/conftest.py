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


# -- layers -----------------------------------------------------------------------------------
#: Fixtures that synthesize the CDK app or start the local cloud (seconds to tens of seconds).
_CLOUD_FIXTURES = frozenset({"cloud_assembly", "template", "local_cloud"})
#: Modules whose tests synthesize variants, run `make` or external validators themselves.
_CLOUD_MODULES = frozenset({"test_stack", "test_makefile", "test_openapi"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cloud: needs the synthesized CDK app or the local cloud (left out by `make test-fast`)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the end-to-end layer, so that `make test-fast` (-m "not cloud") runs the unit layer:
    a test is end-to-end when it uses a cloud fixture, directly or through another fixture."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        if name in _CLOUD_MODULES or _CLOUD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cloud)
