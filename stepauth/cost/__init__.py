"""``stepauth cost``: the monthly AWS bill of a stepauth deployment, read off its template.

What each API operation uses comes from the synthesized CloudFormation template (``template``):
the route's integration (a workflow, a direct DynamoDB action or a Lambda proxy) and its
authorizer; each workflow's success path through its ASL (Task and Pass states); the Lambda
functions each Task calls, their MemorySize and architecture; the direct DynamoDB operations of
the ASL and their request units. What the template cannot say is declared in ``assumptions``
(the table operations the Lambda steps make themselves, cache refreshes, step durations, each a
named constant); the prices are dated data in ``prices.toml``; ``model`` does the arithmetic,
``render`` the output and ``command`` the options.
"""

from __future__ import annotations

from .assumptions import (
    BENCH_RESULTS,
    DEFAULT_MAU,
    DEFAULT_PER_MAU,
    DEFAULT_STEP_DURATIONS,
    OPERATION_ROUTES,
    PERIODIC_READS,
    SECONDS_PER_MONTH,
    STEP_TABLE_OPERATIONS,
    PeriodicRead,
    StepDuration,
    load_durations,
)
from .command import add_cost_command, load_template, run
from .model import (
    CostLine,
    Estimate,
    Operation,
    Usage,
    capacity,
    cost_lines,
    estimate,
    express_billed_ms,
    express_gb_seconds,
    operation_usage,
    periodic_usage,
    step_units,
)
from .prices import (
    API_GATEWAY_REST_TIERS,
    COGNITO_ESSENTIALS_TIERS,
    COGNITO_LITE_TIERS,
    PRICES_AS_OF,
    REGION,
    Tiers,
    tiered,
)
from .render import render, to_json
from .template import (
    Function,
    RequestUnits,
    Route,
    StackModel,
    State,
    Workflow,
    dynamodb_units,
    resolve,
    workflow_definitions,
)

__all__ = [
    "API_GATEWAY_REST_TIERS",
    "BENCH_RESULTS",
    "COGNITO_ESSENTIALS_TIERS",
    "COGNITO_LITE_TIERS",
    "DEFAULT_MAU",
    "DEFAULT_PER_MAU",
    "DEFAULT_STEP_DURATIONS",
    "OPERATION_ROUTES",
    "PERIODIC_READS",
    "PRICES_AS_OF",
    "REGION",
    "SECONDS_PER_MONTH",
    "STEP_TABLE_OPERATIONS",
    "CostLine",
    "Estimate",
    "Function",
    "Operation",
    "PeriodicRead",
    "RequestUnits",
    "Route",
    "StackModel",
    "State",
    "StepDuration",
    "Tiers",
    "Usage",
    "Workflow",
    "add_cost_command",
    "capacity",
    "cost_lines",
    "dynamodb_units",
    "estimate",
    "express_billed_ms",
    "express_gb_seconds",
    "load_durations",
    "load_template",
    "operation_usage",
    "periodic_usage",
    "render",
    "resolve",
    "run",
    "step_units",
    "tiered",
    "to_json",
    "workflow_definitions",
]
