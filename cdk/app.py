"""CDK entry point (``cdk.json``: ``python -m cdk.app``)."""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk

from .config import StackConfig
from .stack import StepAuthStack


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir, context=context)
    config = StackConfig.from_context(app.node)
    stack = StepAuthStack(app, "StepAuth", config=config)
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
    build_app().synth()


if __name__ == "__main__":
    main()
