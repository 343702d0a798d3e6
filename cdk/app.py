"""CDK entry point (``cdk.json``: ``python -m cdk.app``)."""

from __future__ import annotations

import os
import sys
from typing import Any

import aws_cdk as cdk
import jsii
from constructs import IValidation

from .config import StackConfig, derived_name_errors
from .stack import StepAuthStack


@jsii.implements(IValidation)
class DerivedNameLengths:
    """Fails synthesis when a name derived from the stack name is longer than AWS allows."""

    def __init__(self, stack: cdk.Stack, stack_name: str) -> None:
        self._stack = stack
        self._stack_name = stack_name

    def validate(self) -> list[str]:
        resources = [c for c in self._stack.node.find_all() if isinstance(c, cdk.CfnResource)]
        return derived_name_errors(self._stack_name, resources)


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir, context=context)
    config = StackConfig.from_context(app.node)
    try:
        stack = StepAuthStack(app, "StepAuth", config=config)
    except RuntimeError as error:
        # CDK checks some derived names itself (a Lambda function name over 64 characters);
        # its message does not say that the stack name is what to change.
        if "longer than" not in str(error) and "characters" not in str(error):
            raise
        raise ValueError(
            f"stack_name {config.stack_name!r} ({len(config.stack_name)} characters) is too "
            f"long for the names derived from it: {error} Choose a shorter stack_name."
        ) from None
    stack.node.add_validation(DerivedNameLengths(stack, config.stack_name))
    stack.acknowledge_nag_findings()
    if app.node.try_get_context("example") in (True, "true", "1"):
        # The "hello" example API, protected by stepauth both ways (README "Protect your API").
        from examples.hello_api.stack import HelloApiStack

        HelloApiStack(
            app,
            "HelloApi",
            stack_name=f"{config.stack_name}-hello",
            stepauth_stack_name=config.stack_name,
            algorithms=(config.token_signing_algorithm,),
            authorizer_cache_ttl_seconds=config.authorizer_cache_ttl_seconds,
        ).add_dependency(stack)
    if app.node.try_get_context("nag") in (True, "true", "1"):
        from aws_cdk import Validations
        from cdk_nag import AwsSolutionsChecks

        # Offline policy validation: synthesis fails on any unacknowledged finding.
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    try:
        build_app().synth()
    except ValueError as error:  # a configuration error: one readable line, no traceback
        print(f"stepauth: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
