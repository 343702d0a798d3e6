"""Observability: rejected requests as FAILED executions (and the response template that still
answers them), the request template's audit times, the steps' metrics and lazy tracing, and
the alarms in the stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdk.api import WorkflowRoute, mapping_template, sync_execution_template
from cdk.observability import SERVER_FAULT_METRIC, SERVER_FAULT_PATTERN
from cdk.workflow_parts import CLIENT_ERROR, client_error_cause
from localcloud.cloud import LocalCloud
from localcloud.mapping_templates import RequestData, render_response_template
from steps.core import observability
from steps.core.errors import InvalidRequest
from steps.core.observability import step_log
from tests.test_api import Api, new_email

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESPONSE_TEMPLATE = mapping_template("execution_result.vtl")
REQUEST = RequestData(
    context={
        "requestId": "client-chosen",
        "extendedRequestId": "req-7",
        "requestTimeEpoch": 1767323045678,
    }
)
NOT_CACHED = {"Cache-Control": "no-store", "Pragma": "no-cache", "x-amzn-RequestId": "req-7"}


def answer(status: str, **fields: str) -> str:
    return json.dumps(
        {"executionArn": "arn:aws:states:r:1:express:X:req-7:u", "status": status, **fields}
    )


# -- the response template ------------------------------------------------------------------


def test_a_client_error_failure_answers_with_its_cause() -> None:
    cause = client_error_cause(401, "invalid_credentials", "The email or password is incorrect.")
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("FAILED", error=CLIENT_ERROR, cause=cause), REQUEST
    )
    assert result.status_override == 401
    assert json.loads(result.body) == {
        "error": "invalid_credentials",
        "error_description": "The email or password is incorrect.",
    }
    # RFC 6750 3: a 401 is a challenge.
    assert result.header_overrides == {
        **NOT_CACHED,
        "WWW-Authenticate": 'Bearer realm="stepauth"',
    }


def test_a_rejection_keeps_its_retry_after_header() -> None:
    cause = json.dumps(
        {
            "statusCode": 429,
            "headers": {"Retry-After": "8"},
            "body": json.dumps({"error": "account_locked", "error_description": "Wait."}),
        }
    )
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("FAILED", error=CLIENT_ERROR, cause=cause), REQUEST
    )
    assert (result.status_override, result.header_overrides) == (
        429,
        {**NOT_CACHED, "Retry-After": "8"},
    )
    assert json.loads(result.body)["error"] == "account_locked"


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "8\r\nSet-Cookie: a=b"},
        {"Retry-After": "soon"},
        {"Set-Cookie": "a=b", "Location": "https://evil.example"},
    ],
)
def test_only_a_numeric_retry_after_passes_from_a_workflow(headers: dict) -> None:
    cause = json.dumps(
        {
            "statusCode": 429,
            "headers": headers,
            "body": json.dumps({"error": "account_locked", "error_description": "Wait."}),
        }
    )
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("FAILED", error=CLIENT_ERROR, cause=cause), REQUEST
    )
    assert (result.status_override, result.header_overrides) == (429, NOT_CACHED)


def test_an_invalid_token_401_names_the_error_in_its_challenge() -> None:
    cause = client_error_cause(401, "invalid_token", "The access token is revoked.")
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("FAILED", error=CLIENT_ERROR, cause=cause), REQUEST
    )
    assert result.header_overrides["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "error",
    [
        "ClientError",  # an uncaught botocore ClientError in a step has this name
        "States.TaskFailed",
        "ValueError",
        "stepauth.ClientErrorish",
    ],
)
def test_any_other_failure_is_a_500_that_reveals_nothing(error: str) -> None:
    cause = client_error_cause(418, "secret_detail", "stack trace and secrets")
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("FAILED", error=error, cause=cause), REQUEST
    )
    assert result.status_override == 500
    assert json.loads(result.body)["error"] == "server_error"
    assert "req-7" in result.body and "secret" not in result.body
    assert "client-chosen" not in result.body


def test_a_hostile_extended_id_cannot_break_the_500_document() -> None:
    request = RequestData(context={"extendedRequestId": 'x","error":"injected\\'})
    failed = answer("FAILED", error="States.Runtime", cause="detail")
    result = render_response_template(RESPONSE_TEMPLATE, failed, request)
    assert json.loads(result.body)["error"] == "server_error"


def test_a_success_still_answers_with_its_output() -> None:
    output = json.dumps({"statusCode": 201, "body": '{"ok":true}'})
    result = render_response_template(
        RESPONSE_TEMPLATE, answer("SUCCEEDED", output=output), REQUEST
    )
    assert (result.status_override, result.body.strip()) == (201, '{"ok":true}')
    # RFC 6749 5.1: answers that carry tokens are never stored by a cache.
    assert result.header_overrides == NOT_CACHED


def test_the_request_template_hands_the_workflow_its_audit_times() -> None:
    from localcloud.mapping_templates import render_request_template

    class Machine:
        state_machine_arn = "arn:aws:states:r:1:stateMachine:X"

    template = sync_execution_template(
        WorkflowRoute("login", Machine()),  # type: ignore[arg-type]
        audit_retention_days=400,
    )
    rendered = json.loads(render_request_template(template, REQUEST))
    request = json.loads(rendered["input"])["request"]
    assert request["receivedAt"] == "1767323045"
    assert request["auditExpiresAt"] == str(1767323045 + 400 * 86_400)


# -- metrics and tracing in the steps ---------------------------------------------------------


def emf(text: str) -> list[dict]:
    documents = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def test_a_count_is_one_emf_document_written_at_once(capsys) -> None:
    observability.count(observability.LOGIN_FAILED)
    (document,) = emf(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "stepauth"
    assert directive["Metrics"] == [{"Name": "LoginFailed", "Unit": "Count"}]
    assert directive["Dimensions"] == [["service"]] and document["service"] == "stepauth"
    assert document["LoginFailed"] == [1.0]


def test_a_server_fault_is_counted_and_a_rejection_is_not(capsys) -> None:
    with pytest.raises(InvalidRequest), step_log("validate_login", {}):
        raise InvalidRequest("bad")
    assert emf(capsys.readouterr().out) == []
    with pytest.raises(ValueError), step_log("validate_login", {}):
        raise ValueError("broken")
    (document,) = emf(capsys.readouterr().out)
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "ServerFault"


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),  # not in Lambda: the local cloud, tests, the command line
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_in_lambda(environ: dict[str, str], enabled: bool) -> None:
    assert observability.tracing_enabled(environ) is enabled


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT",)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env={**clean, **env},
    ).stdout.strip()


def test_without_tracing_no_xray_sdk_is_even_imported() -> None:
    code = (
        "import sys\n"
        "from steps.core import observability as o\n"
        "with o.trace_step('x'):\n"
        "    pass\n"
        "print(o.tracer() is None, 'aws_xray_sdk' in sys.modules)"
    )
    assert _python(code) == "True False"


def test_in_lambda_the_tracer_is_built_once_on_first_use() -> None:
    code = (
        "import sys\n"
        "from steps.core import observability as o\n"
        "print('aws_xray_sdk' in sys.modules)\n"
        "with o.trace_step('x'):\n"
        "    ran = True\n"
        "print(ran, o.tracer() is o.tracer(), 'aws_xray_sdk' in sys.modules)"
    )
    out = _python(code, LAMBDA_TASK_ROOT="/var/task", AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR")
    assert out.splitlines() == ["False", "True True True"]


def test_the_local_cloud_counts_logins_and_never_traces(local_cloud: LocalCloud, capfd) -> None:
    api = Api(local_cloud)
    capfd.readouterr()
    assert api.login(new_email(), "not the right passphrase").status == 401
    names = [
        metric["Name"]
        for document in emf(capfd.readouterr().out)
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    ]
    assert "LoginFailed" in names and "ServerFault" not in names
    assert observability._tracer is None


# -- alarms -------------------------------------------------------------------------------------


def _resources(template: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def test_alarms_watch_server_faults_not_rejections(template: dict) -> None:
    filters = _resources(template, "AWS::Logs::MetricFilter")
    # one per workflow log group
    assert len(filters) == len(_resources(template, "AWS::StepFunctions::StateMachine"))
    for metric_filter in filters:
        assert metric_filter["FilterPattern"] == SERVER_FAULT_PATTERN
        (transformation,) = metric_filter["MetricTransformations"]
        assert transformation["MetricName"] == SERVER_FAULT_METRIC
        assert transformation["MetricNamespace"] == "stepauth/stepauth"
    assert f'$.details.error != "{CLIENT_ERROR}"' in SERVER_FAULT_PATTERN
    assert "ExecutionTimedOut" in SERVER_FAULT_PATTERN

    alarms = {a["AlarmName"]: a for a in _resources(template, "AWS::CloudWatch::Alarm")}
    assert set(alarms) == {
        "stepauth-server-faults",
        "stepauth-workflow-throttles",
        "stepauth-workflow-throttles-2",
        "stepauth-api-5xx",
        "stepauth-lambda-throttles",
    }
    assert alarms["stepauth-server-faults"]["MetricName"] == SERVER_FAULT_METRIC
    assert alarms["stepauth-api-5xx"]["MetricName"] == "5XXError"
    assert alarms["stepauth-lambda-throttles"]["MetricName"] == "Throttles"
    # One throttle alarm per 10 EXPRESS workflows (an alarm sums at most 10 metrics).
    throttles = alarms["stepauth-workflow-throttles"]["Metrics"]
    throttles += alarms["stepauth-workflow-throttles-2"]["Metrics"]
    express = [
        m
        for m in _resources(template, "AWS::StepFunctions::StateMachine")
        if m["StateMachineType"] == "EXPRESS"
    ]
    assert sum(1 for m in throttles if "MetricStat" in m) == len(express)
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in throttles if "MetricStat" in m} == {
        "ExecutionThrottled"
    }
    for alarm in alarms.values():
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"
    assert "ExecutionsFailed" not in json.dumps(alarms)
