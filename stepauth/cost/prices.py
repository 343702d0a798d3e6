"""The dated AWS price list the cost model uses, read from ``prices.toml`` beside this file.

The figures live in the data file (with their sources and date) so that a new price list is a
data change, not a code change; this module only gives them names and types.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

#: (units in the tier, USD per unit), tiers in order; the last tier is unbounded.
Tiers = tuple[tuple[float, float], ...]


def _load() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _tiers(rows: list[list[float]]) -> Tiers:
    tiers = tuple((float(size), float(price)) for size, price in rows)
    if not tiers or tiers[-1][0] != float("inf"):
        raise ValueError("prices.toml: the last tier of a tiered price must be unbounded (inf)")
    return tiers


_PRICES = _load()

PRICES_AS_OF: str = _PRICES["as_of"]
REGION: str = _PRICES["region"]
PRICES_SOURCE: str = _PRICES["source"]

API_GATEWAY_REST_TIERS = _tiers(_PRICES["api_gateway"]["rest_request_tiers"])

SFN_EXPRESS_REQUEST_USD = float(_PRICES["step_functions_express"]["request_usd"])
SFN_EXPRESS_GB_SECOND_TIERS = _tiers(_PRICES["step_functions_express"]["gb_second_tiers"])
SFN_EXPRESS_MEMORY_STEP_MB = int(_PRICES["step_functions_express"]["memory_step_mb"])
SFN_EXPRESS_DURATION_STEP_MS = int(_PRICES["step_functions_express"]["duration_step_ms"])

LAMBDA_REQUEST_USD = float(_PRICES["lambda"]["request_usd"])
LAMBDA_GB_SECOND_TIERS: dict[str, Tiers] = {
    architecture: _tiers(rows)
    for architecture, rows in _PRICES["lambda"]["gb_second_tiers"].items()
}

DYNAMODB_WRITE_UNIT_USD = float(_PRICES["dynamodb"]["write_unit_usd"])
DYNAMODB_READ_UNIT_USD = float(_PRICES["dynamodb"]["read_unit_usd"])

SECRET_MONTH_USD = float(_PRICES["secrets_manager"]["secret_month_usd"])
SECRETS_API_CALL_USD = float(_PRICES["secrets_manager"]["api_call_usd"])

LOGS_INGESTION_GB_USD = float(_PRICES["cloudwatch_logs"]["ingestion_gb_usd"])

COGNITO_LITE_TIERS = _tiers(_PRICES["cognito"]["lite_tiers"])
COGNITO_ESSENTIALS_TIERS = _tiers(_PRICES["cognito"]["essentials_tiers"])


def tiered(quantity: float, tiers: Tiers) -> float:
    """The price of ``quantity`` units under tiered pricing."""
    total, remaining = 0.0, quantity
    for size, price in tiers:
        used = min(remaining, size)
        total += used * price
        remaining -= used
        if remaining <= 0:
            break
    return total
