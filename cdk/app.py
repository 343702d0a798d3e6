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
    StepAuthStack(app, "StepAuth", config=config)
    return app


def main() -> None:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    build_app().synth()


if __name__ == "__main__":
    main()
