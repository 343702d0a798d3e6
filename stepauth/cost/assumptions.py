"""What the template cannot say, declared: modelling assumptions, the table operations of the
Lambda steps, cache refreshes and step durations (measured by ``make bench`` or the defaults).

Step durations are the medians measured by ``make bench`` (``bench/results/latest.json``) when
that file exists, else ``DEFAULT_STEP_DURATIONS``. A duration measured on a full local core is
stretched for Lambda's CPU share: below 1,769 MB a function gets that fraction of a vCPU, so
its CPU time is scaled by 1769/MemorySize; time spent waiting (wall minus CPU) is kept as is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .template import RequestUnits

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCH_RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.json"

# -- modelling assumptions ------------------------------------------------------------------------
#: AWS's own monthly estimates use 730 hours.
SECONDS_PER_MONTH = 730 * 3600
#: A Lambda function gets one full vCPU at 1,769 MB, proportionally less below.
FULL_VCPU_MEMORY_MB = 1769
#: Added to an Express execution per Lambda Task for the invoke itself (assumed, not measured).
LAMBDA_TASK_OVERHEAD_MS = 20.0
#: One direct DynamoDB integration Task (assumed).
DYNAMODB_TASK_MS = 10.0
#: One Pass, Choice, Succeed or other non-Task state (assumed).
OTHER_STATE_MS = 1.0
#: Express memory: the workflows' definitions and payloads are far below the 64 MB step.
EXPRESS_MEMORY_MB = 64
#: Lambda platform log lines per invocation (START, END, REPORT), in bytes (assumed).
LAMBDA_PLATFORM_LOG_BYTES = 350
#: One Express history event logged at level ALL without execution data, in bytes (assumed).
HISTORY_EVENT_LOG_BYTES = 400
#: Default quotas the capacity plan compares against (AWS defaults as known; raisable).
LAMBDA_REGIONAL_CONCURRENCY = 1000
API_GATEWAY_ACCOUNT_RPS = 10_000
DYNAMODB_TABLE_UNITS_PER_SECOND = 40_000

#: The month `stepauth cost` prices when a figure is not given (a consumer app's month; every
#: figure can be overridden on the command line and is printed with the estimate).
DEFAULT_MAU = 10_000  # where Cognito's free tier ends: the comparison starts to mean something
DEFAULT_PER_MAU: dict[str, float] = {
    "register": 0.05,  # 5 % of a month's active users are new
    "login": 4.0,  # a password login about once a week; refresh keeps sessions alive between
    "refresh": 60.0,  # 15-minute access tokens: about 3 refreshes a day on 20 active days
    "logout": 1.0,  # one explicit sign-out a month
}

#: The API operations the model prices, and their routes.
OPERATION_ROUTES: dict[str, tuple[str, str]] = {
    "register": ("POST", "/v1/register"),
    "login": ("POST", "/v1/login"),
    "refresh": ("POST", "/v1/token/refresh"),
    "logout": ("POST", "/v1/logout"),
}


#: The table operations each Lambda step makes itself, per invocation on its success path, keyed
#: by (workflow name suffix or "*", handler). A transactional write costs 2 WRU per item; a write
#: of an item carrying gsi1 keys costs 1 more WRU for the index copy (projection ALL); a strongly
#: consistent read 1 RRU, an eventually consistent read or a Query 0.5 RRU.
STEP_TABLE_OPERATIONS: dict[tuple[str, str], RequestUnits] = {
    # ValidateRegistration: checks the request; no table access (the putItem is in the ASL).
    ("*", "steps.validate_registration.handler"): RequestUnits(),
    # ValidateLogin: checks the request; the user item is read by the ASL's FindUser getItem.
    ("*", "steps.validate_login.handler"): RequestUnits(),
    # HashPassword: argon2id only.
    ("*", "steps.hash_password.handler"): RequestUnits(),
    # VerifyPassword: argon2id against the item FindUser read; after a right password, a
    # strongly consistent GetItem of the account's MFA enrolment (1 RRU).
    ("*", "steps.verify_password.handler"): RequestUnits(read=1),
    # IssueTokens starting a family (Register, Login): one TransactWriteItems putting the family
    # and the token item (2 items x 2 WRU) plus both items' gsi1 copies (2 WRU).
    ("*", "steps.issue_tokens.handler"): RequestUnits(write=6),
    # ValidateRefresh: hashes the presented token; no table access.
    ("*", "steps.validate_refresh.handler"): RequestUnits(),
    # RotateRefreshToken: strongly consistent GetItem of the token, the family and the user
    # (3 RRU) and one TransactWriteItems: spend the token, put its successor, update the family
    # (3 items x 2 WRU) plus their gsi1 copies (3 WRU).
    ("*", "steps.rotate_refresh_token.handler"): RequestUnits(read=3, write=9),
    # ValidateLogout: checks the request; no table access.
    ("*", "steps.validate_logout.handler"): RequestUnits(),
    # EndSessions (one refresh token given): GetItem of the token (1 RRU) and the UpdateItem
    # revoking its family (1 WRU + 1 gsi1 copy). The denylist putItem is in the ASL.
    ("*", "steps.end_sessions.handler"): RequestUnits(read=1, write=2),
    # DisableUser (a user with one family): two gsi1 Queries, the user and the families (2 x 0.5
    # RRU), UpdateItem of the user and of the family (2 x (1 WRU + 1 gsi1 copy)), and the
    # UpdateItem of the user's "tokens valid after" marker (1 WRU, no gsi1).
    ("*", "steps.disable_user.handler"): RequestUnits(read=1, write=5),
    # DeleteAccount (one family): the same two Queries (1 RRU), the family UpdateItem (2 WRU),
    # the user DeleteItem (1 WRU + 1 gsi1 copy) and the marker UpdateItem (1 WRU).
    ("*", "steps.delete_account.handler"): RequestUnits(read=1, write=5),
    # ListSessions: one gsi1 Query of the user's families (0.5 RRU for up to 4 KB of sessions).
    ("*", "steps.list_sessions.handler"): RequestUnits(read=0.5),
    # EndSession: the conditional UpdateItem revoking one family (1 WRU + 1 gsi1 copy).
    ("*", "steps.end_session.handler"): RequestUnits(write=2),
    # StreamCleanup runs on table stream records, behind no API operation: not priced here.
    ("*", "steps.stream_cleanup.handler"): RequestUnits(),
    # PublishJwks: eventually consistent GetItem of the public keys item (0.5 RRU).
    ("*", "steps.publish_jwks.handler"): RequestUnits(read=0.5),
    # The authorizer: one strongly consistent BatchGetItem of the token's denylist entry and the
    # user's "tokens valid after" marker (2 x 1 RRU).
    ("*", "authorizer.handler.handler"): RequestUnits(read=2),
    # InitSigningKeys runs once per deploy (a custom resource), behind no API operation.
    ("*", "steps.init_signing_keys.handler"): RequestUnits(),
    # -- account lifecycle (cdk/lifecycle_workflows.py) --
    # StartVerification: a StartExecution only (the rule's target); no table access.
    ("*", "steps.start_verification.handler"): RequestUnits(),
    # SendEmail (a code): the conditional counter UpdateItem (1 WRU), a GetItem of the pending
    # item on a resend (1 RRU), the pending and link PutItems (2 WRU).
    ("*", "steps.send_email.handler"): RequestUnits(read=1, write=3),
    # VerifyEmail: GetItem of the user and of the pending item (2 RRU), the conditional
    # DeleteItem spending the code (1 WRU), the user UpdateItem (1 WRU + 1 gsi1 copy) and the
    # user re-read (1 RRU).
    ("*", "steps.verify_email.handler"): RequestUnits(read=3, write=3),
    # FindVerification: GetItem of the user and of the pending item (2 RRU).
    ("*", "steps.find_verification.handler"): RequestUnits(read=2),
    # RequestPasswordReset: GetItem of the user (1 RRU).
    ("*", "steps.request_password_reset.handler"): RequestUnits(read=1),
    # CheckReset: GetItem of the user and of the pending item (2 RRU), the DeleteItem (1 WRU).
    ("*", "steps.check_reset.handler"): RequestUnits(read=2, write=1),
    # -- multi-factor sign-in (cdk/mfa_workflows.py); items without gsi1 keys --
    # StartTotpEnrolment: the caller by id (gsi1 Query, 0.5 RRU), the enrolment UpdateItem.
    ("*", "steps.start_totp_enrolment.handler"): RequestUnits(read=0.5, write=1),
    # ConfirmTotp: the caller (0.5 RRU), GetItem of the enrolment (1 RRU), its UpdateItem.
    ("*", "steps.confirm_totp.handler"): RequestUnits(read=1.5, write=1),
    # ValidateMfaProof: the caller by id (0.5 RRU).
    ("*", "steps.validate_mfa_proof.handler"): RequestUnits(read=0.5),
    # VerifySecondFactor: GetItem of the lockout count and the enrolment (2 RRU), the UpdateItem
    # of the last step or the spent recovery code (1 WRU).
    ("*", "steps.verify_second_factor.handler"): RequestUnits(read=2, write=1),
    # ReplaceRecoveryCodes: one UpdateItem.
    ("*", "steps.replace_recovery_codes.handler"): RequestUnits(write=1),
    # StartMfaChallenge: the challenge PutItem.
    ("*", "steps.start_mfa_challenge.handler"): RequestUnits(write=1),
    # ValidateMfaLogin: hashes the mfa_token; no table access.
    ("*", "steps.validate_mfa_login.handler"): RequestUnits(),
    # VerifyMfaLogin: GetItem of the challenge, the lockout count and the enrolment (3 RRU), the
    # UpdateItem of the last step (1 WRU), the challenge DeleteItem (1 WRU).
    ("*", "steps.verify_mfa_login.handler"): RequestUnits(read=3, write=2),
    # CheckStepUp (change password or email, delete account): GetItem of the enrolment (1 RRU);
    # an account without MFA goes on at once.
    ("*", "steps.check_step_up.handler"): RequestUnits(read=1),
    # StorePassword (one family): the user UpdateItem (1 WRU + 1 gsi1 copy), a gsi1 Query of
    # the families (0.5 RRU) and the family UpdateItem (1 WRU + 1 gsi1 copy).
    ("*", "steps.store_password.handler"): RequestUnits(read=0.5, write=4),
    # ValidatePasswordChange: a gsi1 Query of the user (0.5 RRU).
    ("*", "steps.validate_password_change.handler"): RequestUnits(read=0.5),
    # ValidateEmailChange: a gsi1 Query of the user and a GetItem of the new address (1.5 RRU).
    ("*", "steps.validate_email_change.handler"): RequestUnits(read=1.5),
    # ConfirmEmailChange: gsi1 Query, pending GetItem, user GetItem (2.5 RRU), the code
    # DeleteItem (1 WRU) and the TransactWriteItems moving the user (2 items x 2 WRU + gsi1).
    ("*", "steps.confirm_email_change.handler"): RequestUnits(read=2.5, write=7),
}


@dataclass(frozen=True)
class PeriodicRead:
    """A read a warm execution environment repeats on a timer (a cache refresh)."""

    service: str  # "secretsmanager" (API calls) or "dynamodb" (RRU)
    every_seconds: float
    units: float


#: Cache refreshes per warm environment (see steps.core.signing_keys.CACHE_SECONDS and
#: authorizer.keys.MAX_AGE_SECONDS).
PERIODIC_READS: dict[str, PeriodicRead] = {
    # IssueTokens re-reads the private key set (GetSecretValue) every 300 s.
    "steps.issue_tokens.handler": PeriodicRead("secretsmanager", 300.0, 1.0),
    # RotateRefreshToken re-reads the private key set and the refresh key every 300 s.
    "steps.rotate_refresh_token.handler": PeriodicRead("secretsmanager", 300.0, 2.0),
    # The authorizer re-reads the public keys item (strongly consistent GetItem) every 300 s.
    "authorizer.handler.handler": PeriodicRead("dynamodb", 300.0, 1.0),
}


@dataclass(frozen=True)
class StepDuration:
    """A handler's warm invocation measured locally on a full core: wall and CPU ms, log bytes."""

    wall_ms: float
    cpu_ms: float
    log_bytes: float = 300.0

    def billed_ms(self, memory_mb: int) -> int:
        """The Lambda billed duration at ``memory_mb`` (1 ms steps, at least 1 ms)."""
        cpu_share = min(1.0, memory_mb / FULL_VCPU_MEMORY_MB)
        waiting = max(0.0, self.wall_ms - self.cpu_ms)
        return max(1, math.ceil(self.cpu_ms / cpu_share + waiting))


#: Used when no bench results exist: warm medians (wall ms, CPU ms of the handler's thread, log
#: bytes) of the `make bench` run in BENCHMARKS.md (2026-11-22, AMD EPYC, 2 busy cores, local
#: cloud: the waits are moto's, not DynamoDB's). The three marked "est." were not exercised by
#: that run and are estimated from their closest measured sibling.
DEFAULT_STEP_DURATIONS: dict[str, StepDuration] = {
    "steps.validate_registration.handler": StepDuration(0.4, 0.4, 243),
    "steps.validate_login.handler": StepDuration(0.3, 0.3, 236),
    "steps.hash_password.handler": StepDuration(41.6, 24.1, 179),
    "steps.verify_password.handler": StepDuration(35.2, 24.6, 230),
    "steps.issue_tokens.handler": StepDuration(28.7, 2.9, 283),
    "steps.validate_refresh.handler": StepDuration(0.3, 0.3, 238),
    "steps.rotate_refresh_token.handler": StepDuration(31.7, 7.6, 291),
    "steps.validate_logout.handler": StepDuration(0.3, 0.3, 286),
    "steps.end_sessions.handler": StepDuration(24.0, 5.1, 297),
    "steps.end_session.handler": StepDuration(24.0, 5.1, 297),  # est.: as end_sessions
    "steps.list_sessions.handler": StepDuration(24.0, 5.1, 297),  # est.: as end_sessions
    "steps.disable_user.handler": StepDuration(100.2, 9.2, 285),  # est.: as delete_account
    "steps.delete_account.handler": StepDuration(100.2, 9.2, 285),
    "steps.publish_jwks.handler": StepDuration(5.1, 1.9, 234),
    "steps.stream_cleanup.handler": StepDuration(68.5, 5.1, 829),
    "authorizer.handler.handler": StepDuration(8.5, 3.0, 239),
}
UNKNOWN_STEP_DURATION = StepDuration(20.0, 5.0, 350)


def load_durations(path: Path | None = BENCH_RESULTS) -> tuple[dict[str, StepDuration], str]:
    """Step durations: measured medians from a bench result file, else the defaults."""
    durations = dict(DEFAULT_STEP_DURATIONS)
    if path is None or not path.exists():
        return durations, "documented defaults (no bench/results/latest.json)"
    data = json.loads(path.read_text())
    measured = data.get("step_durations", {})
    for handler, figures in measured.items():
        # The CPU the local DynamoDB spent answering the handler (moto, on the handler's thread)
        # is DynamoDB's on AWS: billed as waiting for its answer, not as the function's CPU.
        service = float(figures.get("service_cpu_ms", 0.0))
        durations[handler] = StepDuration(
            float(figures["wall_ms"]),
            max(0.0, float(figures["cpu_ms"]) - service),
            float(figures["log_bytes"]),
        )
    machine = data.get("machine", {})
    return durations, (
        f"measured medians for {len(measured)} handlers from {path.name} "
        f"({machine.get('date', '?')}, {machine.get('cpu_model', '?')})"
    )
