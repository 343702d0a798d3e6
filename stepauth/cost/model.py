"""The monthly estimate: what one call of each API operation uses, scaled to a month and priced,
and the capacity the same mix needs at a peak rate."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .assumptions import (
    API_GATEWAY_ACCOUNT_RPS,
    DYNAMODB_TABLE_UNITS_PER_SECOND,
    DYNAMODB_TASK_MS,
    EXPRESS_MEMORY_MB,
    HISTORY_EVENT_LOG_BYTES,
    LAMBDA_PLATFORM_LOG_BYTES,
    LAMBDA_REGIONAL_CONCURRENCY,
    LAMBDA_TASK_OVERHEAD_MS,
    OPERATION_ROUTES,
    OTHER_STATE_MS,
    PERIODIC_READS,
    SECONDS_PER_MONTH,
    STEP_TABLE_OPERATIONS,
    UNKNOWN_STEP_DURATION,
    StepDuration,
)
from .prices import (
    API_GATEWAY_REST_TIERS,
    COGNITO_ESSENTIALS_TIERS,
    COGNITO_LITE_TIERS,
    DYNAMODB_READ_UNIT_USD,
    DYNAMODB_WRITE_UNIT_USD,
    LAMBDA_GB_SECOND_TIERS,
    LAMBDA_REQUEST_USD,
    LOGS_INGESTION_GB_USD,
    SECRET_MONTH_USD,
    SECRETS_API_CALL_USD,
    SFN_EXPRESS_DURATION_STEP_MS,
    SFN_EXPRESS_GB_SECOND_TIERS,
    SFN_EXPRESS_MEMORY_STEP_MB,
    SFN_EXPRESS_REQUEST_USD,
    tiered,
)
from .template import Function, RequestUnits, Route, StackModel


def express_billed_ms(duration_ms: float) -> int:
    step = SFN_EXPRESS_DURATION_STEP_MS
    return max(step, math.ceil(duration_ms / step) * step)


def express_gb_seconds(billed_ms: int, memory_mb: int = EXPRESS_MEMORY_MB) -> float:
    chunks = max(1, math.ceil(memory_mb / SFN_EXPRESS_MEMORY_STEP_MB))
    return billed_ms / 1000 * chunks * SFN_EXPRESS_MEMORY_STEP_MB / 1024


@dataclass
class Usage:
    """Billable quantities; per operation or per month (they add up and scale)."""

    api_requests: float = 0.0
    express_requests: float = 0.0
    express_gb_seconds: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_seconds: dict[str, float] = field(default_factory=dict)  # by architecture
    read_units: float = 0.0
    write_units: float = 0.0
    secrets_api_calls: float = 0.0
    log_bytes: float = 0.0
    #: function logical id -> (invocations, billed ms of one invocation)
    invocations: dict[str, tuple[float, int]] = field(default_factory=dict)

    def add(self, other: Usage, times: float = 1.0) -> None:
        self.api_requests += other.api_requests * times
        self.express_requests += other.express_requests * times
        self.express_gb_seconds += other.express_gb_seconds * times
        self.lambda_requests += other.lambda_requests * times
        for arch, value in other.lambda_gb_seconds.items():
            self.lambda_gb_seconds[arch] = self.lambda_gb_seconds.get(arch, 0.0) + value * times
        self.read_units += other.read_units * times
        self.write_units += other.write_units * times
        self.secrets_api_calls += other.secrets_api_calls * times
        self.log_bytes += other.log_bytes * times
        for function, (count, billed) in other.invocations.items():
            before = self.invocations.get(function, (0.0, billed))[0]
            self.invocations[function] = (before + count * times, billed)

    def invoke(
        self, function: Function, duration: StepDuration, units: RequestUnits, times: float = 1.0
    ) -> int:
        billed = duration.billed_ms(function.memory_mb)
        self.lambda_requests += times
        gb_seconds = billed / 1000 * function.memory_mb / 1024 * times
        arch = function.architecture
        self.lambda_gb_seconds[arch] = self.lambda_gb_seconds.get(arch, 0.0) + gb_seconds
        self.read_units += units.read * times
        self.write_units += units.write * times
        self.log_bytes += (LAMBDA_PLATFORM_LOG_BYTES + duration.log_bytes) * times
        before = self.invocations.get(function.logical_id, (0.0, billed))[0]
        self.invocations[function.logical_id] = (before + times, billed)
        return billed


def step_units(workflow_name: str, handler: str) -> RequestUnits:
    for (scope, declared_handler), units in STEP_TABLE_OPERATIONS.items():
        if declared_handler == handler and scope != "*" and workflow_name.endswith(f"-{scope}"):
            return units
    return STEP_TABLE_OPERATIONS.get(("*", handler), RequestUnits())


@dataclass
class Operation:
    """One API operation: what a single successful call uses."""

    name: str
    route: Route
    usage: Usage
    workflow: str | None = None
    express_duration_ms: float = 0.0
    express_billed_ms: int = 0


def _duration(durations: Mapping[str, StepDuration], handler: str) -> StepDuration:
    return durations.get(handler, UNKNOWN_STEP_DURATION)


def operation_usage(
    model: StackModel, name: str, route: Route, durations: Mapping[str, StepDuration]
) -> Operation:
    usage = Usage(api_requests=1.0)
    operation = Operation(name, route, usage)
    if route.authorizer_function:
        # Upper bound: every call misses the authorizer cache (it caches per token for the TTL).
        function = model.functions[route.authorizer_function]
        usage.invoke(
            function,
            _duration(durations, function.handler),
            step_units("*", function.handler),
        )
    if route.integration == "workflow":
        workflow = model.workflows[route.target]
        operation.workflow = workflow.name
        elapsed = 0.0
        for state in workflow.states:
            if state.kind == "lambda" and state.function:
                function = model.functions[state.function]
                billed = usage.invoke(
                    function,
                    _duration(durations, function.handler),
                    step_units(workflow.name, function.handler),
                )
                elapsed += billed + LAMBDA_TASK_OVERHEAD_MS
            elif state.kind == "dynamodb":
                usage.read_units += state.units.read
                usage.write_units += state.units.write
                elapsed += DYNAMODB_TASK_MS
            else:
                elapsed += OTHER_STATE_MS
        operation.express_duration_ms = elapsed
        operation.express_billed_ms = express_billed_ms(elapsed)
        usage.express_requests = 1.0
        usage.express_gb_seconds = express_gb_seconds(operation.express_billed_ms)
        usage.log_bytes += workflow.history_events * HISTORY_EVENT_LOG_BYTES
    elif route.integration == "dynamodb":
        usage.read_units += route.units.read
        usage.write_units += route.units.write
    elif route.integration == "lambda":
        function = model.functions[route.target]
        usage.invoke(
            function, _duration(durations, function.handler), step_units("*", function.handler)
        )
    return operation


# -- the monthly estimate ------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float


def cost_lines(usage: Usage, secrets: int) -> list[CostLine]:
    lines = [
        CostLine(
            "API Gateway (REST)",
            "requests",
            usage.api_requests,
            "requests",
            tiered(usage.api_requests, API_GATEWAY_REST_TIERS),
        ),
        CostLine(
            "Step Functions Express",
            "requests",
            usage.express_requests,
            "executions",
            usage.express_requests * SFN_EXPRESS_REQUEST_USD,
        ),
        CostLine(
            "Step Functions Express",
            "duration",
            usage.express_gb_seconds,
            "GB-s",
            tiered(usage.express_gb_seconds, SFN_EXPRESS_GB_SECOND_TIERS),
        ),
        CostLine(
            "Lambda",
            "requests",
            usage.lambda_requests,
            "invocations",
            usage.lambda_requests * LAMBDA_REQUEST_USD,
        ),
    ]
    for arch, gb_seconds in sorted(usage.lambda_gb_seconds.items()):
        lines.append(
            CostLine(
                "Lambda",
                f"duration ({arch})",
                gb_seconds,
                "GB-s",
                tiered(gb_seconds, LAMBDA_GB_SECOND_TIERS[arch]),
            )
        )
    lines += [
        CostLine(
            "DynamoDB on-demand",
            "reads",
            usage.read_units,
            "RRU",
            usage.read_units * DYNAMODB_READ_UNIT_USD,
        ),
        CostLine(
            "DynamoDB on-demand",
            "writes",
            usage.write_units,
            "WRU",
            usage.write_units * DYNAMODB_WRITE_UNIT_USD,
        ),
        CostLine("Secrets Manager", "secrets", secrets, "secrets", secrets * SECRET_MONTH_USD),
        CostLine(
            "Secrets Manager",
            "API calls",
            usage.secrets_api_calls,
            "calls",
            usage.secrets_api_calls * SECRETS_API_CALL_USD,
        ),
        CostLine(
            "CloudWatch Logs",
            "ingestion",
            usage.log_bytes / 1e9,
            "GB",
            usage.log_bytes / 1e9 * LOGS_INGESTION_GB_USD,
        ),
    ]
    return lines


def _environments(invocations: float, billed_ms: int) -> float:
    """Warm environments a function keeps on average over a month (at least one if used)."""
    if invocations <= 0:
        return 0.0
    return float(max(1, math.ceil(invocations / SECONDS_PER_MONTH * billed_ms / 1000)))


def periodic_usage(model: StackModel, usage: Usage) -> Usage:
    """Cache refreshes of the warm environments (key sets re-read every few minutes)."""
    extra = Usage()
    for function_id, (invocations, billed_ms) in usage.invocations.items():
        function = model.functions[function_id]
        periodic = PERIODIC_READS.get(function.handler)
        if periodic is None:
            continue
        reads = (
            _environments(invocations, billed_ms)
            * SECONDS_PER_MONTH
            / periodic.every_seconds
            * periodic.units
        )
        if periodic.service == "secretsmanager":
            extra.secrets_api_calls += reads
        else:
            extra.read_units += reads
    return extra


@dataclass
class Estimate:
    mau: int
    per_mau: dict[str, float]
    counts: dict[str, float]
    operations: dict[str, Operation]
    usage: Usage
    lines: list[CostLine]
    cognito: dict[str, float]
    durations_source: str
    model: StackModel

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)


def estimate(
    model: StackModel,
    mau: int,
    per_mau: Mapping[str, float],
    durations: Mapping[str, StepDuration],
    durations_source: str = "",
) -> Estimate:
    counts = {name: mau * rate for name, rate in per_mau.items() if rate > 0}
    operations = {
        name: operation_usage(model, name, model.route(*OPERATION_ROUTES[name]), durations)
        for name in counts
    }
    usage = Usage()
    for name, count in counts.items():
        usage.add(operations[name].usage, count)
    usage.add(periodic_usage(model, usage))
    return Estimate(
        mau=mau,
        per_mau=dict(per_mau),
        counts=counts,
        operations=operations,
        usage=usage,
        lines=cost_lines(usage, model.secrets),
        cognito={
            "lite": tiered(mau, COGNITO_LITE_TIERS),
            "essentials": tiered(mau, COGNITO_ESSENTIALS_TIERS),
        },
        durations_source=durations_source,
        model=model,
    )


def capacity(result: Estimate, peak_rps: float) -> dict[str, Any]:
    """Concurrency and request rates when the operation mix arrives at ``peak_rps``."""
    total = sum(result.counts.values())
    rates = {name: peak_rps * count / total for name, count in result.counts.items()}
    concurrency: dict[str, float] = {}
    per_second = Usage()
    for name, rps in rates.items():
        operation = result.operations[name]
        per_second.add(operation.usage, rps)
        for function_id, (invocations, billed_ms) in operation.usage.invocations.items():
            function = result.model.functions[function_id]
            concurrency[function.name] = (
                concurrency.get(function.name, 0.0) + rps * invocations * billed_ms / 1000
            )
    lambda_total = sum(concurrency.values())
    model = result.model
    return {
        "peak_rps": peak_rps,
        "operation_rps": rates,
        "lambda_concurrency": concurrency,
        "lambda_concurrency_total": lambda_total,
        "lambda_regional_quota": LAMBDA_REGIONAL_CONCURRENCY,
        "express_executions_per_second": per_second.express_requests,
        "lambda_invocations_per_second": per_second.lambda_requests,
        "dynamodb_rru_per_second": per_second.read_units,
        "dynamodb_wru_per_second": per_second.write_units,
        "dynamodb_table_quota_per_second": DYNAMODB_TABLE_UNITS_PER_SECOND,
        "api_stage_rate_limit": model.stage_rate_limit,
        "api_stage_burst_limit": model.stage_burst_limit,
        "api_account_quota_rps": API_GATEWAY_ACCOUNT_RPS,
        "warnings": _capacity_warnings(peak_rps, lambda_total, per_second, model),
    }


def _capacity_warnings(
    peak_rps: float, lambda_total: float, per_second: Usage, model: StackModel
) -> list[str]:
    warnings = []
    if model.stage_rate_limit is not None and peak_rps > model.stage_rate_limit:
        warnings.append(
            f"peak {peak_rps:g} rps exceeds the stage throttle of {model.stage_rate_limit:g} rps "
            "(context throttle_rate_limit): callers get 429"
        )
    if peak_rps > API_GATEWAY_ACCOUNT_RPS:
        warnings.append(f"peak exceeds API Gateway's default {API_GATEWAY_ACCOUNT_RPS} rps quota")
    if lambda_total > LAMBDA_REGIONAL_CONCURRENCY:
        warnings.append(
            f"Lambda concurrency {lambda_total:.0f} exceeds the default regional quota of "
            f"{LAMBDA_REGIONAL_CONCURRENCY}"
        )
    if max(per_second.read_units, per_second.write_units) > DYNAMODB_TABLE_UNITS_PER_SECOND:
        warnings.append("DynamoDB request units exceed the default on-demand table maximum")
    return warnings
