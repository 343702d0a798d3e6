"""What the local cloud itself costs: per execution, per state transition and per Task.

Runs moto (with ``localcloud.patches``) in this process, as the local cloud does, and times
``StartSyncExecution`` of EXPRESS machines made of N Pass states and of N Task states that call
a trivial in-process Lambda (``noop`` below), for two values of N each. The slope is the cost of
one state; the intercept is what every execution pays (ASL parse included). Floors measured in
the same run: one bare API round trip to the local cloud (``DescribeStateMachine``) and one
direct ``lambda:Invoke`` of the same trivial function. Two known hot spots are timed on their
own: the ASL parse of the real Login definition (moto parses it on every execution; the local
cloud parses each definition once) and a boto3 client creation (what the patched per-Task client
cache saves). Calls are answered in-process as in the local cloud (``localcloud/inprocess.py``).

    python -m bench.localcloud_overhead          (prints its figures; --json for the suite)
"""

from __future__ import annotations

import io
import json
import logging
import os
import statistics
import sys
import uuid
import warnings
import zipfile
from typing import Any

from bench.measure import summary, time_per_call_ms

ROLE = "arn:aws:iam::123456789012:role/bench-local"
NOOP_HANDLER = "bench.localcloud_overhead.noop"


def noop(event: Any, context: Any) -> Any:
    """The trivial Lambda each Task state calls."""
    return event


def pass_chain(states: int) -> dict[str, Any]:
    names = [f"P{i}" for i in range(states)]
    return {
        "StartAt": names[0],
        "States": {
            name: {"Type": "Pass", **({"Next": names[i + 1]} if i + 1 < states else {"End": True})}
            for i, name in enumerate(names)
        },
    }


def task_chain(states: int, function_arn: str) -> dict[str, Any]:
    names = [f"T{i}" for i in range(states)]
    return {
        "StartAt": names[0],
        "States": {
            name: {
                "Type": "Task",
                "Resource": function_arn,
                **({"Next": names[i + 1]} if i + 1 < states else {"End": True}),
            }
            for i, name in enumerate(names)
        },
    }


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "code runs in-process from the project")
    return buffer.getvalue()


def _slope(small: tuple[int, float], large: tuple[int, float]) -> tuple[float, float]:
    """(per state, fixed per execution) from two (states, ms) points."""
    per_state = (large[1] - small[1]) / (large[0] - small[0])
    return per_state, small[1] - per_state * small[0]


def _asl_parse_ms(template: dict[str, Any] | None, seconds: float) -> dict[str, float]:
    """ms per parse of each workflow definition of the template (moto parses per execution)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from stepauth.cost import workflow_definitions

    if template is None:
        return {}
    parse_ms: dict[str, float] = {}
    for name, definition in sorted(workflow_definitions(template).items()):
        text = json.dumps(definition)
        parse_ms[name] = time_per_call_ms(
            lambda text=text: AmazonStateLanguageParser.parse(text), seconds
        )
    return parse_ms


def _client_creation_ms(seconds: float) -> dict[str, float]:
    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    def create() -> None:  # what moto's uncached boto_client_for does on every Task
        boto3.client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            aws_access_key_id="ak",
            aws_secret_access_key="sk",  # noqa: S106 - moto's dummy key
        )

    return {
        "boto3_client_creation": time_per_call_ms(create, seconds),
        "patched_cached_lookup": time_per_call_ms(
            lambda: boto_client.boto_client_for(region="us-east-1", service="lambda"), seconds / 4
        ),
    }


def clients_created_per_task(execute: Any, arn: str, tasks: int, executions: int = 5) -> float:
    """boto3 clients created per Lambda Task state (0 when the per-Task client cache works)."""
    import botocore.session

    created = [0]
    create_client = botocore.session.Session.create_client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        created[0] += 1
        return create_client(self, *args, **kwargs)

    botocore.session.Session.create_client = counting  # type: ignore[method-assign]
    try:
        for _ in range(executions):
            execute(arn)
    finally:
        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    return created[0] / (executions * tasks)


def measure(
    template: dict[str, Any] | None = None,
    *,
    seconds: float = 1.5,
    repeats: int = 3,
    pass_states: tuple[int, int] = (1, 25),
    task_states: tuple[int, int] = (1, 9),
) -> dict[str, Any]:
    import boto3
    from botocore.config import Config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from localcloud import inprocess, patches
    from localcloud.cloud import LocalCloud, LocalCloudSettings, free_port

    settings = LocalCloudSettings(gateway_port=free_port(), aws_port=free_port())
    LocalCloud(settings).configure_environment()
    patches.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    server = ThreadedMotoServer(ip_address=settings.host, port=settings.aws_port, verbose=False)
    server.start()
    if settings.in_process_aws:  # as LocalCloud.start: in-process calls skip the loopback HTTP
        inprocess.serve_in_process(settings.client_host, settings.aws_port)
    try:
        session = boto3.Session(region_name=settings.region)
        session.client("iam").create_role(
            RoleName="bench-local",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": ["lambda.amazonaws.com"]},
                        }
                    ],
                }
            ),
        )
        lambdas = session.client("lambda")
        function_arn = lambdas.create_function(
            FunctionName="bench-noop",
            Runtime="python3.12",
            Role=ROLE,
            Handler=NOOP_HANDLER,
            Code={"ZipFile": _code_zip()},
        )["FunctionArn"]
        sfn = session.client("stepfunctions", config=Config(inject_host_prefix=False))

        def machine(definition: dict[str, Any]) -> str:
            return sfn.create_state_machine(
                name=f"bench-{uuid.uuid4().hex[:8]}",
                definition=json.dumps(definition),
                roleArn=ROLE,
                type="EXPRESS",
            )["stateMachineArn"]

        machines = {("pass", n): machine(pass_chain(n)) for n in pass_states} | {
            ("task", n): machine(task_chain(n, function_arn)) for n in task_states
        }

        def execute(arn: str) -> None:
            answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"x": 1}')
            if answer["status"] != "SUCCEEDED":
                raise RuntimeError(f"bench execution failed: {answer}")

        any_arn = machines[("pass", pass_states[0])]
        for arn in machines.values():  # warm
            execute(arn)
        samples: dict[str, list[float]] = {"round_trip": [], "invoke": []}
        for key in machines:
            samples[f"{key[0]}_{key[1]}"] = []
        for _ in range(repeats):
            samples["round_trip"].append(
                time_per_call_ms(
                    lambda: sfn.describe_state_machine(stateMachineArn=any_arn), seconds
                )
            )
            samples["invoke"].append(
                time_per_call_ms(
                    lambda: lambdas.invoke(FunctionName="bench-noop", Payload=b'{"x": 1}'), seconds
                )
            )
            for (kind, n), arn in machines.items():
                samples[f"{kind}_{n}"].append(
                    time_per_call_ms(lambda arn=arn: execute(arn), seconds)
                )
        parse_ms = _asl_parse_ms(template, seconds / 3)
        hot_spots = dict(_client_creation_ms(seconds))
        login = [ms for name, ms in parse_ms.items() if name.endswith("-Login")]
        if login:
            hot_spots["login_definition"] = login[0]
        clients_per_task = clients_created_per_task(
            execute, machines[("task", task_states[1])], task_states[1]
        )
    finally:
        inprocess.stop_serving(settings.aws_port)
        server.stop()

    medians = {key: statistics.median(values) for key, values in samples.items()}
    per_pass, pass_fixed = _slope(
        (pass_states[0], medians[f"pass_{pass_states[0]}"]),
        (pass_states[1], medians[f"pass_{pass_states[1]}"]),
    )
    per_task, task_fixed = _slope(
        (task_states[0], medians[f"task_{task_states[0]}"]),
        (task_states[1], medians[f"task_{task_states[1]}"]),
    )
    return {
        "pass_states": list(pass_states),
        "task_states": list(task_states),
        "samples_ms": {key: summary(values) for key, values in samples.items()},
        "per_pass_state_ms": per_pass,
        "per_task_state_ms": per_task,
        "per_execution_fixed_ms": pass_fixed,
        "per_execution_fixed_ms_task_fit": task_fixed,
        "round_trip_ms": medians["round_trip"],
        "direct_invoke_ms": medians["invoke"],
        "task_over_direct_invoke": per_task / medians["invoke"],
        "fixed_over_round_trip": pass_fixed / medians["round_trip"],
        "hot_spots_ms": hot_spots,
        "asl_parse_ms": parse_ms,
        "clients_created_per_task": clients_per_task,
    }


def report(result: dict[str, Any]) -> list[str]:
    hot = result["hot_spots_ms"]
    lines = [
        "local-cloud overhead (StartSyncExecution of EXPRESS chains; medians, slope of "
        f"{result['pass_states']} Pass and {result['task_states']} Task states)",
        f"  floor: one API round trip {result['round_trip_ms']:.2f} ms; direct lambda:Invoke "
        f"of a no-op {result['direct_invoke_ms']:.2f} ms",
        f"  per execution (fixed): {result['per_execution_fixed_ms']:.2f} ms = "
        f"{result['fixed_over_round_trip']:.1f}x a round trip",
        f"  per Pass state:        {result['per_pass_state_ms']:.2f} ms",
        f"  per Lambda Task state: {result['per_task_state_ms']:.2f} ms = "
        f"{result['task_over_direct_invoke']:.2f}x a direct invoke",
    ]
    if result.get("asl_parse_ms"):
        lines.append(
            "  ASL parse (moto: per execution; local cloud: once per definition): "
            + ", ".join(
                f"{name.rsplit('-', 1)[-1]} {ms:.1f} ms"
                for name, ms in result["asl_parse_ms"].items()
            )
        )
    lines.append(
        f"  boto3 client creation {hot['boto3_client_creation']:.2f} ms vs the patched cache "
        f"{hot['patched_cached_lookup'] * 1000:.1f} us; clients still created per Lambda Task: "
        f"{result['clients_created_per_task']:.2f} (0 when the cache covers Tasks)"
    )
    return lines


def main() -> None:
    from bench.assembly import bench_assembly

    template = bench_assembly(fresh=False).template()
    result = measure(template)
    if "--json" in sys.argv[1:]:
        print(json.dumps(result))
    else:
        print("\n".join(report(result)))


if __name__ == "__main__":
    main()
