"""cdk-nag (AwsSolutions) findings stepauth accepts, each with the reason it is accepted.

`tests/test_stack.py` runs the AwsSolutions pack on the real app (offline, through CDK's
``Validations`` API); any finding not fixed in the stack or acknowledged here fails the tests.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_

ACKNOWLEDGED: dict[str, str] = {
    "AwsSolutions-APIG2": (
        "Bodies are validated by each workflow's first step, so that every error uses the "
        "contract's OAuth error shape; API Gateway's validator would answer in its own format."
    ),
    "AwsSolutions-APIG3": (
        "A WAF web ACL is account-specific and costs at least $5 a month; stage throttling, the "
        "per-account login lockout and body limits are built in. Attach a web ACL per deployment "
        "where policy requires one."
    ),
    "AwsSolutions-APIG4": (
        "Registration, login, refresh and the JWKS are public by definition; every other route "
        "uses the stepauth Lambda authorizer."
    ),
    "AwsSolutions-COG4": (
        "stepauth is the identity provider: its routes are guarded by its own Lambda authorizer "
        "(ES256 or Ed25519 JWTs, denylist), not by a Cognito user pool."
    ),
    "AwsSolutions-IAM4": (
        "The two AWS managed policies used only allow writing logs: AWSLambdaBasicExecutionRole "
        "(a function's own log streams; CDK attaches it to every function role) and "
        "AmazonAPIGatewayPushToCloudWatchLogs (API Gateway's account-wide logging role)."
    ),
    "AwsSolutions-IAM5": (
        "Wildcards come from CDK grants that need them: lambda:InvokeFunction on '<function>:*' "
        "(versions and aliases), X-Ray and CloudWatch Logs delivery actions that only accept "
        "'*', and the table's '/index/*' for its gsi1 queries."
    ),
    "AwsSolutions-L1": (
        "Python 3.12 is the runtime the bundled wheels are built for (cp312); moving to a newer "
        "runtime is a deliberate change of the bundling platform, not a default."
    ),
    "AwsSolutions-SMG4": (
        "Signing keys rotate with `stepauth keys rotate`, which keeps the previous key published "
        "until its tokens expire; Secrets Manager's single-value rotation cannot do that. The "
        "one-time-code HMAC key (<stack>/code-key) is not rotated either: rotating it would "
        "void every pending code, and codes live at most a day."
    ),
    "AwsSolutions-SQS3": (
        "The queue is itself the on-failure destination of the clean-up's event source mapping; "
        "it keeps failed stream batches for inspection and needs no queue behind it."
    ),
}


def acknowledge_findings(
    stack: Stack, *, functions: Iterable[lambda_.Function], table: dynamodb.Table
) -> None:
    """Records every acknowledgement above on the stack (and so on everything in it).

    IAM4 and IAM5 findings carry the policy or resource they are about; each one is
    acknowledged by name, so a new kind of wildcard still fails the check.
    """
    ids = {rule: reason for rule, reason in ACKNOWLEDGED.items()}
    granular = {
        "AwsSolutions-IAM4": [
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs",
        ],
        "AwsSolutions-IAM5": [
            "Resource::*",
            f"Resource::<{_logical_id(stack, table)}.Arn>/index/*",
            *[f"Resource::<{_logical_id(stack, f)}.Arn>:*" for f in functions],
        ],
    }
    for rule, findings in granular.items():
        reason = ids.pop(rule)
        for finding in findings:
            ids[f"{rule}[{finding}]"] = reason
    Validations.of(stack).acknowledge(
        *[Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason) for rule, reason in ids.items()]
    )


def _logical_id(stack: Stack, construct: lambda_.Function | dynamodb.Table) -> str:
    return stack.resolve(stack.get_logical_id(construct.node.default_child))  # type: ignore[arg-type]
