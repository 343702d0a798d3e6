"""Where moto 5.2.5 differs from AWS in ways stepauth depends on: ``apply()`` installs every fix
once per process. Each AWS service's gaps are closed in a module of their own:

* ``localcloud/awslambda.py``: handlers run in-process (as their role); FilterCriteria.
* ``localcloud/stepfunctions.py``: StartSyncExecution, execution names, history without
  execution data, one client per Task service, ``$$.Execution.StartTime``, one parse per
  definition, states run as the machine's role; ``localcloud/interpreter.py``: its hot spots;
  ``localcloud/stepfunctions_logs.py``: Express workflow logs in CloudWatch Logs.
* ``localcloud/dynamodb.py``: atomic writes, stream records off the writer's thread, TTL
  deletions' identity (``localcloud/streams.py`` delivers and sweeps,
  ``localcloud/dynamodb_transactions.py`` undoes cancelled transactions,
  ``localcloud/dynamodb_queries.py`` gives a query only the items it can match).
* ``localcloud/cloudformation.py``: state machines, table TTL, secrets, MOCK methods.
* ``localcloud/logs.py``: a template's log group adopts the one a Lambda invocation made first.
* ``localcloud/events.py``: EventBridge targets, idempotent StartExecution, SDK parameters;
  ``localcloud/mail.py``: the SES mailbox.
* ``localcloud/faults.py`` and ``localcloud/consistency.py``: fault injection and index lag for
  the resilience tests (off unless a test asks).
"""

from __future__ import annotations

import threading

from localcloud import consistency, faults

_applied = False
_lock = threading.Lock()


def apply() -> None:
    """Install every fix (idempotent) and turn on moto's ASL interpreter."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.core.config import default_user_config

        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        from . import (
            awslambda,
            cloudformation,
            dynamodb,
            events,
            interpreter,
            logs,
            mail,
            stepfunctions,
            stepfunctions_logs,
        )

        awslambda.apply()
        stepfunctions.apply()
        cloudformation.apply()
        dynamodb.apply()
        stepfunctions_logs.apply()
        logs.apply()  # a template's log group adopts one a Lambda invocation made first
        interpreter.apply()  # JSONPath cache, shared programs, batched logs (interpreter.py)
        _install_resilience_hooks()
        events.apply()
        mail.apply()
        _applied = True


def _install_resilience_hooks() -> None:
    """Fault injection (localcloud/faults.py), AWS's Lambda Task error names and the index lag
    switch (localcloud/consistency.py)."""
    faults.install()
    faults.patch_lambda_task_errors()
    consistency.emulate_index_lag()  # off unless STEPAUTH_INDEX_LAG_SECONDS or a test sets it
