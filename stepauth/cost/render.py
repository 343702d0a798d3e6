"""The estimate for people (a text report) and for scripts (one JSON document)."""

from __future__ import annotations

from typing import Any

from .model import Estimate, cost_lines
from .prices import PRICES_AS_OF, PRICES_SOURCE, REGION


def to_json(result: Estimate, plan: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "mau": result.mau,
        "per_mau": result.per_mau,
        "operations_per_month": result.counts,
        "prices": {
            "as_of": PRICES_AS_OF,
            "region": REGION,
            "source": PRICES_SOURCE,
        },
        "lines": [line.__dict__ for line in result.lines],
        "total_usd": result.total_usd,
        "per_mau_usd": result.total_usd / result.mau if result.mau else 0.0,
        "cognito_usd": result.cognito,
        "per_operation": {
            name: {
                "route": f"{op.route.method} {op.route.path}",
                "workflow": op.workflow,
                "express_duration_ms": op.express_duration_ms,
                "express_billed_ms": op.express_billed_ms,
                "lambda": {
                    result.model.functions[fid].name: {
                        "invocations": count,
                        "billed_ms": billed,
                        "memory_mb": result.model.functions[fid].memory_mb,
                    }
                    for fid, (count, billed) in op.usage.invocations.items()
                },
                "read_units": op.usage.read_units,
                "write_units": op.usage.write_units,
                "log_bytes": op.usage.log_bytes,
                "usd_per_million": sum(line.usd for line in cost_lines(op.usage, 0)) * 1e6,
            }
            for name, op in result.operations.items()
        },
        "durations_source": result.durations_source,
        "capacity": plan,
        "notes": result.model.notes,
    }


def _money(value: float) -> str:
    return f"${value:,.2f}"


def render(result: Estimate, plan: dict[str, Any] | None) -> str:
    counts = ", ".join(f"{name} {count:,.0f}" for name, count in result.counts.items())
    out = [
        f"stepauth on AWS: {result.mau:,} monthly active users; operations/month: {counts}",
        f"prices: {REGION} list prices as of {PRICES_AS_OF}, from memory, NOT fetched (no "
        "network here); stepauth's own free tiers ignored",
        "",
        f"{'service':<24} {'item':<18} {'quantity':>18}  {'USD/month':>12}",
    ]
    for line in result.lines:
        out.append(
            f"{line.service:<24} {line.item:<18} {line.quantity:>14,.1f} {line.unit:<5}"
            f"{_money(line.usd):>12}"
        )
    total = result.total_usd
    out += [
        f"{'total':<24} {'':<18} {'':>18}  {_money(total):>12}",
        f"per MAU: ${total / result.mau:.5f}" if result.mau else "",
        "",
        f"Cognito user pools for {result.mau:,} MAU (10,000 MAU free tier applied): "
        f"Lite {_money(result.cognito['lite'])}, Essentials {_money(result.cognito['essentials'])}",
        "",
        "per operation (one successful call):",
    ]
    for name, op in result.operations.items():
        lambdas = ", ".join(
            f"{result.model.functions[fid].name.removeprefix('stepauth-')} "
            f"{result.model.functions[fid].memory_mb} MB {billed} ms"
            for fid, (_, billed) in op.usage.invocations.items()
        )
        per_million = sum(line.usd for line in cost_lines(op.usage, 0)) * 1e6
        express = (
            f"express {op.express_billed_ms} ms billed (est. {op.express_duration_ms:.0f} ms), "
            if op.workflow
            else ""
        )
        out.append(
            f"  {name:<9} {op.route.method} {op.route.path}: {express}lambda [{lambdas}], "
            f"{op.usage.read_units:g} RRU, {op.usage.write_units:g} WRU, "
            f"{op.usage.log_bytes / 1000:.1f} KB logs -> {_money(per_million)} per million"
        )
    out.append(f"durations: {result.durations_source}")
    if plan is not None:
        out += ["", f"capacity at {plan['peak_rps']:g} requests/s (the same operation mix):"]
        for name, concurrency in sorted(plan["lambda_concurrency"].items()):
            out.append(f"  Lambda {name:<32} concurrency {concurrency:8.2f}")
        out += [
            f"  Lambda total concurrency {plan['lambda_concurrency_total']:.1f} "
            f"(default regional quota {plan['lambda_regional_quota']})",
            f"  Step Functions Express executions/s {plan['express_executions_per_second']:.1f}",
            f"  DynamoDB {plan['dynamodb_rru_per_second']:.1f} RRU/s, "
            f"{plan['dynamodb_wru_per_second']:.1f} WRU/s (on-demand table default max "
            f"{plan['dynamodb_table_quota_per_second']:,}/s each)",
            f"  API stage throttle {plan['api_stage_rate_limit']} rps, burst "
            f"{plan['api_stage_burst_limit']}",
        ]
        out += [f"  WARNING: {warning}" for warning in plan["warnings"]]
    out += [f"note: {note}" for note in result.model.notes]
    return "\n".join(out)
