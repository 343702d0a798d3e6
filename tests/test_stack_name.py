"""The stack name is checked at synth: CloudFormation's rule, and the names derived from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cdk.config import derived_name_errors, validate_stack_name
from localcloud.deploy import synthesize


@pytest.mark.parametrize("name", ["stepauth", "S", "a-1-b", "x" * 128])
def test_cloudformation_stack_names_pass(name: str) -> None:
    validate_stack_name(name)


@pytest.mark.parametrize("name", ["", "1st", "-x", "my_stack", "with space", "ü", "x" * 129])
def test_names_cloudformation_refuses_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="stack_name"):
        validate_stack_name(name)


def test_derived_names_over_the_service_limits_are_explained() -> None:
    resources = [
        SimpleNamespace(
            cfn_resource_type="AWS::StepFunctions::StateMachine",
            state_machine_name="s" * 80 + "-Login",
        ),
        SimpleNamespace(cfn_resource_type="AWS::SQS::Queue", queue_name="short-queue"),
        SimpleNamespace(cfn_resource_type="AWS::S3::Bucket", bucket_name="b" * 300),
    ]
    (error,) = derived_name_errors("s" * 80, resources)
    assert "86 characters and AWS allows 80" in error
    assert "stack_name of at most 74 characters" in error


@pytest.mark.cloud  # a synthesis of its own
def test_synth_refuses_a_bad_stack_name_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as info:
        synthesize(tmp_path / "bad", {"stack_name": "my_stack"})
    assert "stack_name 'my_stack' is not a CloudFormation stack name" in str(info.value)


@pytest.mark.cloud  # a synthesis of its own
def test_synth_refuses_a_stack_name_too_long_for_its_function_names(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as info:
        synthesize(tmp_path / "long", {"stack_name": "a" * 60})
    message = str(info.value)
    assert "is too long for the names derived from it" in message
    assert "64 characters" in message
