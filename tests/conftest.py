"""Shared fixtures: one synthesis and one local cloud per test session."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest

from localcloud.cloud import LOCAL_CONTEXT, LocalCloud, LocalCloudSettings, free_port
from localcloud.deploy import CloudAssembly
from tests.synthesis import Synthesis, synthesize_variants

# moto's mock_aws() resets boto3's default session and the step tests reset the cached clients,
# so each test's first client would build a new botocore session whose new loader re-reads
# and re-parses the service models from disk (most of a unit test's time). The models are
# read-only data: one loader for the whole test session loads each model once.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)

# Signing keys, argon2 and tokens must not depend on the developer's AWS set-up.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)


#: The variants of the app tests/test_stack.py, tests/test_lifecycle_stack.py and
#: tests/test_protect_units.py check beside the local cloud's synthesis (all in one child process).
STACK_VARIANTS: dict[str, dict[str, Any]] = {
    "stack-x": {"stack_name": "x"},
    # also the optional email verification policy (one synthesis less than its own variant)
    "stack-other-stack": {"stack_name": "other-stack", "email_verification": "optional"},
    "uniform-registration": {"uniform_registration": "true"},
    "mfa-required": {"mfa": "required", "email_verification": "optional"},
    # tests/test_lifecycle_stack.py: the default configuration (email verification required)
    # and its other timeout action.
    "lifecycle-default": LOCAL_CONTEXT,
    "lifecycle-remove-on-timeout": {**LOCAL_CONTEXT, "verification_timeout_action": "remove"},
    # tests/test_protect_units.py: Ed25519 access tokens.
    "ed25519": {**LOCAL_CONTEXT, "token_signing_algorithm": "Ed25519"},
    "nag": {"nag": "true"},  # last: its synthesis is the one expected to fail when a finding
}
_WANTS_VARIANTS = pytest.StashKey[bool]()

# The shared test stack runs without email verification, so the suites can register and log
# in at once; tests/test_email_verification.py runs the default (required) in its own server.
TEST_CONTEXT = {**LOCAL_CONTEXT, "email_verification": "off"}


@pytest.fixture(scope="session")
def syntheses(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Synthesis]:
    """The local cloud's synthesis ("local") and, when a selected test needs them, the
    variants, all in one child process (one jsii start-up instead of one per variant)."""
    contexts = {"local": TEST_CONTEXT}
    if request.config.stash.get(_WANTS_VARIANTS, False):
        contexts |= STACK_VARIANTS
    return synthesize_variants(Path(tmp_path_factory.mktemp("cdk.out")), contexts)


@pytest.fixture(scope="session")
def cloud_assembly(syntheses: dict[str, Synthesis]) -> CloudAssembly:
    """The CDK app synthesized once as the local cloud does (no bundling, local context)."""
    return syntheses["local"].require()


@pytest.fixture(scope="session")
def stack_variants(syntheses: dict[str, Synthesis]) -> dict[str, Synthesis]:
    return {name: syntheses[name] for name in STACK_VARIANTS}


@pytest.fixture(scope="session")
def template(cloud_assembly: CloudAssembly) -> dict:
    return cloud_assembly.template()


@pytest.fixture(scope="session")
def local_cloud(cloud_assembly: CloudAssembly) -> Iterator[LocalCloud]:
    """The whole stack on the embedded local cloud, on free ports, for the session."""
    settings = LocalCloudSettings(
        gateway_port=free_port(), aws_port=free_port(), example_port=free_port()
    )
    cloud = LocalCloud(settings).start(cloud_assembly)
    yield cloud
    cloud.stop()


# Least privilege: every grant of the template must be exercised by some call of the suite.
# The IAM evaluator of the local cloud records which grant allowed each call (localcloud/iam.py);
# after the run the grants nothing used are listed, and with STEPAUTH_REQUIRE_GRANTS_USED=1 (the
# whole suite in CI) any such grant fails the run.
REQUIRE_GRANTS_USED = "STEPAUTH_REQUIRE_GRANTS_USED"
#: Files where `stepauth local` child processes (another configuration of the same app, e.g.
#: tests/test_email_verification.py) wrote the grants they used; they count here too.
CHILD_USED_GRANTS: list[Path] = []


def _absorb_child_grants(evaluator: Any) -> None:
    while CHILD_USED_GRANTS:
        path = CHILD_USED_GRANTS.pop()
        if path.exists():
            evaluator.absorb_records(json.loads(path.read_text()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from localcloud import iam

    evaluator = iam.evaluator()
    if evaluator is None:
        return
    _absorb_child_grants(evaluator)
    if not evaluator.used_grants():
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
    _absorb_child_grants(evaluator)
    if evaluator.platform_denials and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if os.environ.get(REQUIRE_GRANTS_USED) != "1":
        return
    if evaluator.unused_grants() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- layers -----------------------------------------------------------------------------------
#: Fixtures that synthesize the CDK app or start the local cloud (seconds to tens of seconds).
_CLOUD_FIXTURES = frozenset({"syntheses", "cloud_assembly", "template", "local_cloud"})
#: Modules whose tests synthesize variants, run `make` or external validators themselves.
_CLOUD_MODULES = frozenset({"test_stack", "test_makefile", "test_openapi"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cloud: needs the synthesized CDK app or the local cloud (left out by `make test-fast`)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker: the markers must be there
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the end-to-end layer, so that `make test-fast` (-m "not cloud") runs the unit layer:
    a test is end-to-end when it uses a cloud fixture, directly or through another fixture."""
    for item in items:
        module = getattr(item, "module", None)
        name = module.__name__.rsplit(".", 1)[-1] if module else ""
        if name in _CLOUD_MODULES or _CLOUD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cloud)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Notes whether a selected test (after -m / -k) needs the stack variants, which are then
    synthesized with the local cloud's synthesis."""
    session.config.stash[_WANTS_VARIANTS] = any(
        "stack_variants" in getattr(item, "fixturenames", ()) for item in session.items
    )
