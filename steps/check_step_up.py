"""Step: a credential change on an account with MFA needs a recent second factor (see
:mod:`steps.core.mfa_step_up`).

``{"request", "caller"}`` → ``{"locked": false, "step_up"}`` or the lockout's answer. Raises
SecondFactorRequired (403), MfaCodeRejected (a counted failure), InvalidToken.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.mfa_cipher import default_cipher
from steps.core.mfa_step_up import check_step_up
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("check_step_up", event) as log:
        result = check_step_up(
            committing_table(event),
            default_cipher(),
            event,
            now=system_clock.now(),
            config=get_config(),
        )
        log.succeeded(step_up=str(result.get("step_up", "locked")))
        return result
