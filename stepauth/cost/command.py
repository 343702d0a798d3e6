"""``stepauth cost``: its options, and reading the template it prices."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from .. import output
from .assumptions import (
    BENCH_RESULTS,
    DEFAULT_MAU,
    DEFAULT_PER_MAU,
    SECONDS_PER_MONTH,
    load_durations,
)
from .model import capacity, estimate
from .render import render, to_json
from .template import StackModel


def load_template(path: Path | None, progress: TextIO | None = None) -> dict[str, Any]:
    """A template file, a cloud assembly folder, or (none given) a fresh synthesis (~10 s,
    announced on ``progress``)."""
    if path is not None:
        if path.is_dir():
            candidates = sorted(path.glob("*.template.json"))
            if not candidates:
                raise FileNotFoundError(f"no *.template.json in {path}")
            path = candidates[0]
        return json.loads(path.read_text())
    import importlib.util
    import tempfile

    try:
        cdk_installed = importlib.util.find_spec("aws_cdk") is not None
    except ImportError:
        cdk_installed = False
    if not cdk_installed:
        raise RuntimeError(
            "synthesizing needs the CDK (pip install 'stepauth[dev]' and Node.js); "
            "or give --template cdk.out/<stack>.template.json"
        )
    from localcloud.deploy import synthesize

    if progress is not None:
        print(
            "stepauth cost: synthesizing the CDK app (about 10-20 s) …", file=progress, flush=True
        )
    with tempfile.TemporaryDirectory(prefix="stepauth-cost-") as outdir:
        return synthesize(Path(outdir)).template()


def run(args: argparse.Namespace) -> int:
    per_mau = {
        "register": args.registrations_per_mau,
        "login": args.logins_per_mau,
        "refresh": args.refreshes_per_mau,
        "logout": args.logouts_per_mau,
    }
    try:
        model = StackModel.from_template(load_template(args.template, progress=sys.stderr))
        durations, source = load_durations(args.bench_results)
        result = estimate(model, args.mau, per_mau, durations, source)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        print(f"stepauth cost: {error}", file=sys.stderr)
        return 1
    average_rps = sum(result.counts.values()) / SECONDS_PER_MONTH
    plan = (
        capacity(result, args.peak_rps if args.peak_rps else average_rps) if result.counts else None
    )
    if output.wants_json(args):
        output.json_document(to_json(result, plan))
    else:
        print(render(result, plan))
    return 0


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a non-negative number")
    return value


def add_cost_command(commands: Any) -> None:
    """Adds ``stepauth cost`` to the command line's subcommands."""
    parser = commands.add_parser(
        "cost",
        help="estimate the monthly AWS bill and the capacity needed, from the template",
        description="Monthly AWS cost by service for a number of monthly active users, next to "
        "Cognito, and the capacity needed at a peak request rate. Reads the synthesized "
        "template (synthesizes the app when --template is not given); step durations come from "
        "bench/results/latest.json when it exists. Every usage figure has a documented default "
        "(a consumer app's month): stepauth cost alone prices 10,000 users.",
    )
    parser.add_argument(
        "--mau",
        type=output.positive_int,
        default=DEFAULT_MAU,
        help=f"monthly active users (default {DEFAULT_MAU:,})",
    )
    for operation, option, text in (
        ("login", "--logins-per-mau", "password logins per user a month"),
        ("refresh", "--refreshes-per-mau", "token refreshes per user a month"),
        ("register", "--registrations-per-mau", "new registrations per active user a month"),
        ("logout", "--logouts-per-mau", "logouts per user a month"),
    ):
        parser.add_argument(
            option,
            type=_non_negative,
            default=DEFAULT_PER_MAU[operation],
            help=f"{text} (default {DEFAULT_PER_MAU[operation]:g})",
        )
    parser.add_argument(
        "--peak-rps",
        type=_non_negative,
        help="plan capacity for this many requests/s (default: the monthly average)",
    )
    output.add_output_option(parser)
    parser.add_argument(
        "--template", type=Path, help="a synthesized template (file or cdk.out folder)"
    )
    parser.add_argument(
        "--bench-results",
        type=Path,
        default=BENCH_RESULTS,
        help="bench results with measured step durations (default bench/results/latest.json)",
    )
    parser.set_defaults(run=run)
