"""Step: replace the caller's recovery codes (after the workflow checked a current code).

``{"user_id"}`` → ``{"recovery_codes": [10 codes]}``, created here, stored only as hashes and
answered once. Raises MfaNotEnabled.
"""

from __future__ import annotations

from typing import Any

from steps.core.mfa import replace_recovery_codes
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("replace_recovery_codes", event) as log:
        codes = replace_recovery_codes(committing_table(event), user_id=str(event["user_id"]))
        log.succeeded(user_id=str(event["user_id"]))
        return {"recovery_codes": codes}
