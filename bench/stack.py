"""The whole local stack in a child process, driven and observed from the benchmark process.

The child deploys a synthesized assembly into the embedded local cloud (``LocalCloud``) on free
ports and then answers commands on stdin, one per line:

* ``stats``: one JSON line with what happened since the last ``stats``: per Lambda handler the
  wall time, the CPU time of the invoking thread and the bytes the handler logged, per
  invocation; per state machine the duration of each synchronous execution (all in ms).
* ``denylist_read {"sub", "jti", "iat", "reads"}``: the authorizer's revocation read
  (``steps.core.sessions.access_token_refusal``, one consistent BatchGetItem) done ``reads``
  times on the command thread, in-process, as the authorizer's role, as the authorizer does it
  on every request; one JSON line with the CPU milliseconds of that thread per read.
* ``capture``: keep the next input each Lambda handler gets; ``sandbox {"handlers", "rounds",
  "memory_kib", "time_cost", "parallelism"}``: replay the captured inputs of those handlers as
  warm Lambda sandboxes run them, each round beside a bare argon2 verification
  (``bench/lambda_sandbox.py``); one JSON line with what was measured.
* ``stop``: stop the local cloud and exit.

Each handler invocation also records the CPU its thread spent inside the in-process AWS
service calls (moto's side of each call, answered on the caller's thread by
``localcloud/inprocess.py``, and IAM's decision on it): on AWS that work is the services', not
the function's, so a handler's CPU less it is what the function would spend on AWS ("on-AWS
handler CPU"; the client side of each call, botocore's serializing, signing and parsing, stays
in it).

The load generator runs in the parent, so the child's CPU time (read from ``/proc``) is the
stack's alone. The handlers' log lines (what Lambda would ship to CloudWatch Logs) are counted
per thread and dropped.

    python -m bench.stack ASSEMBLY_DIR GATEWAY_PORT AWS_PORT   (the parent starts it)
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import selectors
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bench import lambda_sandbox
from bench.measure import process_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 180.0


# -- in the child -------------------------------------------------------------------------------


class LogSink(io.TextIOBase):
    """Stands in for ``sys.stdout``: counts the bytes each thread writes, keeps none."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def write(self, text: str) -> int:
        self._local.written = self.written_by_this_thread() + len(text.encode("utf-8"))
        return len(text)

    def writable(self) -> bool:
        return True

    def written_by_this_thread(self) -> int:
        return int(getattr(self._local, "written", 0))


#: What the recorder keeps of each handler invocation (ms, except the log's bytes).
HANDLER_SAMPLES = ("wall_ms", "cpu_ms", "service_cpu_ms", "log_bytes", "argon2_cpu_ms")


class Recorder:
    """Times every in-process Lambda invocation and every synchronous execution."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink
        self._service = threading.local()  # CPU seconds of in-process service calls, per thread
        self._argon2 = threading.local()  # CPU seconds of argon2 verifications, per thread
        self._lock = threading.Lock()
        self._handlers: dict[str, dict[str, list[float]]] = {}
        self._executions: dict[str, list[float]] = defaultdict(list)
        self._retries: dict[str, int] = defaultdict(int)
        self._capturing = False
        self._captured: dict[str, Any] = {}  # handler -> its input, in invocation order

    def _record_handler(
        self,
        name: str,
        wall_ms: float,
        cpu_ms: float,
        service_cpu_ms: float,
        log_bytes: int,
        argon2_cpu_ms: float,
    ) -> None:
        with self._lock:
            samples = self._handlers.setdefault(name, {key: [] for key in HANDLER_SAMPLES})
            samples["wall_ms"].append(wall_ms)
            samples["cpu_ms"].append(cpu_ms)
            samples["service_cpu_ms"].append(service_cpu_ms)
            samples["log_bytes"].append(float(log_bytes))
            samples["argon2_cpu_ms"].append(argon2_cpu_ms)

    def argon2_cpu_seconds(self) -> float:
        """CPU seconds this thread has spent inside argon2 verifications so far."""
        return float(getattr(self._argon2, "seconds", 0.0))

    def service_cpu_seconds(self) -> float:
        """CPU seconds this thread has spent inside in-process AWS service calls so far."""
        return float(getattr(self._service, "seconds", 0.0))

    def _record_execution(self, machine: str, wall_ms: float) -> None:
        with self._lock:
            self._executions[machine].append(wall_ms)

    def _record_retry(self, error: str, outcome: str) -> None:
        with self._lock:
            self._retries[f"{error} {outcome}"] += 1

    def timed_handler(
        self, name: str, function: Callable[[Any, Any], Any]
    ) -> Callable[[Any, Any], Any]:
        def handler(event: Any, context: Any) -> Any:
            if self._capturing:
                self._capture(name, event)
            logged = self.sink.written_by_this_thread()
            service = self.service_cpu_seconds()
            argon2 = self.argon2_cpu_seconds()
            cpu = time.thread_time()
            wall = time.perf_counter()
            try:
                return function(event, context)
            finally:
                self._record_handler(
                    name,
                    (time.perf_counter() - wall) * 1000,
                    (time.thread_time() - cpu) * 1000,
                    (self.service_cpu_seconds() - service) * 1000,
                    self.sink.written_by_this_thread() - logged,
                    (self.argon2_cpu_seconds() - argon2) * 1000,
                )

        return handler

    def capture_next_inputs(self) -> None:
        """Keep the next input of each handler (``captured_inputs``; bench/lambda_sandbox.py)."""
        with self._lock:
            self._captured = {}
            self._capturing = True

    def _capture(self, name: str, event: Any) -> None:
        with self._lock:
            if self._capturing and name not in self._captured:
                self._captured[name] = copy.deepcopy(event)  # before the handler can change it

    def captured_inputs(self) -> dict[str, Any]:
        with self._lock:
            self._capturing = False
            return dict(self._captured)

    def install(self) -> None:
        """Wraps the local cloud's handler resolution and its StartSyncExecution."""
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        from localcloud import awslambda

        if not callable(getattr(awslambda, "resolve_handler", None)) or not callable(
            getattr(StepFunctionsParserBackend, "start_sync_execution", None)
        ):
            raise RuntimeError(
                "bench.stack times handlers through localcloud.awslambda.resolve_handler and "
                "executions through start_sync_execution; one of them is gone"
            )
        resolve = awslambda.resolve_handler
        wrapped: dict[str, Callable[[Any, Any], Any]] = {}

        def resolve_timed(handler: str) -> Callable[[Any, Any], Any]:
            if handler not in wrapped:
                wrapped[handler] = self.timed_handler(handler, resolve(handler))
            return wrapped[handler]

        awslambda.resolve_handler = resolve_timed  # type: ignore[assignment]

        start_sync = StepFunctionsParserBackend.start_sync_execution

        def start_sync_execution(
            self_: Any, state_machine_arn: str, *args: Any, **kwargs: Any
        ) -> Any:
            began = time.perf_counter()
            try:
                return start_sync(self_, state_machine_arn, *args, **kwargs)
            finally:
                machine = state_machine_arn.rsplit(":", 1)[-1]
                self._record_execution(machine, (time.perf_counter() - began) * 1000)

        StepFunctionsParserBackend.start_sync_execution = start_sync_execution
        self._count_retries()
        self._time_service_calls()
        self.time_argon2()

    def time_argon2(self) -> None:
        """Adds the CPU of every argon2 verification to its thread's total: the on-AWS login
        figure is also set against the verification of the same invocations, beside the floor's
        back-to-back loop (bench/throughput.py)."""
        from steps.core.passwords import PasswordHasher

        verify = PasswordHasher.verify

        def timed_verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
            began = time.thread_time()
            try:
                return verify(hasher, password_hash, password)
            finally:
                spent = time.thread_time() - began
                self._argon2.seconds = self.argon2_cpu_seconds() + spent

        PasswordHasher.verify = timed_verify  # type: ignore[method-assign]

    def _time_service_calls(self) -> None:
        """Adds the CPU of every in-process AWS call (moto's answer, IAM's decision) to its
        thread's total."""
        from localcloud import inprocess

        if not callable(getattr(inprocess, "answer", None)):
            raise RuntimeError("bench.stack times service calls through inprocess.answer")
        answer = inprocess.answer

        def timed_answer(app: Any, request: Any) -> Any:
            began = time.thread_time()
            try:
                return answer(app, request)
            finally:
                spent = time.thread_time() - began
                self._service.seconds = self.service_cpu_seconds() + spent

        inprocess.answer = timed_answer  # type: ignore[assignment]

        # IAM's decision on each call is AWS's work too (the local cloud makes it on the
        # caller's thread, before the request is built).
        from localcloud import iam

        authorize = iam.authorize_call

        def timed_authorize(service: str, operation: str, params: Any) -> None:
            began = time.thread_time()
            try:
                authorize(service, operation, params)
            finally:
                spent = time.thread_time() - began
                self._service.seconds = self.service_cpu_seconds() + spent

        iam.authorize_call = timed_authorize  # type: ignore[assignment]

    def _count_retries(self) -> None:
        """Counts every error a Task's Retry saw, by error name and what the Retry did with it
        (``CanRetry``: a wait and another attempt; ``CannotRetry``: attempts used up;
        ``NoRetrier``: not a transient error). A retry in a load run is a wait of 1–4 s."""
        from moto.stepfunctions.parser.asl.component.common.retry.retry_decl import RetryDecl

        evaluate = RetryDecl._eval_body

        def _eval_body(self_: Any, env: Any) -> None:
            error = getattr(env.stack[-1], "error_name", None) if env.stack else None
            evaluate(self_, env)
            outcome = env.stack[-1] if env.stack else None
            self._record_retry(str(error), str(getattr(outcome, "name", outcome)))

        RetryDecl._eval_body = _eval_body  # type: ignore[method-assign]

    def take(self) -> dict[str, Any]:
        with self._lock:
            taken = {
                "handlers": self._handlers,
                "executions": dict(self._executions),
                "retries": dict(self._retries),
            }
            self._handlers = {}
            self._executions = defaultdict(list)
            self._retries = defaultdict(int)
        return taken


def denylist_read_cpu_ms(
    recorder: Recorder, sub: str, jti: str, iat: int, reads: int
) -> dict[str, Any]:
    """The authorizer's revocation read, in-process, as the authorizer's role: CPU ms per read
    on this thread (its client side and moto's answer), median of five rounds; and of it, the
    part inside moto's answer (DynamoDB's side on AWS)."""
    from moto.awslambda.models import lambda_backends

    from authorizer import handler as authorizer
    from localcloud import awslambda, iam
    from steps.core.sessions import access_token_refusal

    functions = [
        function
        for regions in lambda_backends.values()
        for backend in regions.values()
        for function in backend.list_functions()
        if function.handler == "authorizer.handler.handler"
    ]
    if not functions:
        raise RuntimeError("the stack has no authorizer.handler.handler function")
    function = functions[0]
    awslambda.apply_function_environment(dict(function.environment_vars or {}))
    rounds: list[float] = []
    service_rounds: list[float] = []
    refusals: set[str | None] = set()
    with iam.acting_as(str(function.role), service_uses=True):
        table = authorizer.table()
        access_token_refusal(table, jti=jti, user_id=sub, issued_at=iat, now=time.time())  # warm
        for _ in range(5):
            service = recorder.service_cpu_seconds()
            began = time.thread_time()
            for _ in range(reads):
                refusals.add(
                    access_token_refusal(
                        table, jti=jti, user_id=sub, issued_at=iat, now=time.time()
                    )
                )
            rounds.append((time.thread_time() - began) * 1000 / reads)
            service_rounds.append((recorder.service_cpu_seconds() - service) * 1000 / reads)
    return {
        "cpu_ms": rounds,
        "median_cpu_ms": statistics.median(rounds),
        "service_cpu_ms": service_rounds,
        "median_service_cpu_ms": statistics.median(service_rounds),
        "refusals": sorted(str(r) for r in refusals),
    }


def serve(assembly_dir: Path, gateway_port: int, aws_port: int) -> None:
    from localcloud.cloud import LocalCloud, LocalCloudSettings
    from localcloud.deploy import CloudAssembly

    control = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sink = LogSink()
    sys.stdout = sink  # before any handler module creates its logger
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = LocalCloudSettings(gateway_port=gateway_port, aws_port=aws_port)
    cloud = LocalCloud(settings).start(CloudAssembly(assembly_dir))
    assert cloud.stack is not None
    recorder = Recorder(sink)
    recorder.install()
    ready = {
        "host": settings.client_host,
        "gateway_port": gateway_port,
        "aws_port": aws_port,
        "aws_endpoint": settings.aws_endpoint,
        "region": settings.region,
        "outputs": cloud.stack.outputs,
    }
    control.write(json.dumps(ready) + "\n")
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                control.write(json.dumps(recorder.take()) + "\n")
            elif command.startswith("denylist_read "):
                request = json.loads(command.split(" ", 1)[1])
                control.write(json.dumps(denylist_read_cpu_ms(recorder, **request)) + "\n")
            elif command == "capture":
                recorder.capture_next_inputs()
                control.write("{}\n")
            elif command.startswith("sandbox "):
                request = json.loads(command.split(" ", 1)[1])
                wanted = set(request.pop("handlers"))
                events = {h: e for h, e in recorder.captured_inputs().items() if h in wanted}
                control.write(json.dumps(lambda_sandbox.replay(recorder, events, **request)) + "\n")
            elif command == "stop":
                break
    finally:
        cloud.stop()


# -- in the parent ------------------------------------------------------------------------------


class StackProcess:
    """Starts the child, asks it for stats, reads its CPU time, stops it."""

    def __init__(self, assembly_dir: Path, log_path: Path) -> None:
        self.assembly_dir = assembly_dir
        self.log_path = log_path
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> StackProcess:
        from localcloud.cloud import free_port

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [
                sys.executable,
                "-m",
                "bench.stack",
                str(self.assembly_dir),
                str(free_port()),
                str(free_port()),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.info = json.loads(self._read_line(READY_TIMEOUT_SECONDS))
        return self

    def _read_line(self, timeout: float | None = None) -> str:
        assert self._process is not None and self._process.stdout is not None
        if timeout is not None:
            with selectors.DefaultSelector() as selector:
                selector.register(self._process.stdout, selectors.EVENT_READ)
                if not selector.select(timeout):
                    raise RuntimeError(f"the local stack did not answer in {timeout:.0f} s")
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the local stack exited ({self._process.poll()}); see {self.log_path}:\n"
                + self.log_path.read_text()[-3000:]
            )
        return line

    def _command(self, command: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()

    def stats(self) -> dict[str, Any]:
        """What the stack recorded since the previous call (and forgets it)."""
        self._command("stats")
        return json.loads(self._read_line(60.0))

    def denylist_read(self, claims: dict[str, Any], reads: int = 200) -> dict[str, Any]:
        """The authorizer's revocation read of a token with these claims, in the stack process."""
        request = {"sub": claims["sub"], "jti": claims["jti"], "iat": int(claims["iat"])}
        self._command("denylist_read " + json.dumps({**request, "reads": reads}))
        return json.loads(self._read_line(120.0))

    def capture_inputs(self) -> None:
        """The stack keeps the next input each Lambda handler gets (for ``sandbox``)."""
        self._command("capture")
        self._read_line(60.0)

    def sandbox(
        self, handlers: list[str], rounds: int, memory_kib: int, time_cost: int, parallelism: int
    ) -> dict[str, Any]:
        """The captured inputs of ``handlers`` replayed as warm Lambda sandboxes run them
        (bench/lambda_sandbox.py)."""
        request = {
            "handlers": handlers,
            "rounds": rounds,
            "memory_kib": memory_kib,
            "time_cost": time_cost,
            "parallelism": parallelism,
        }
        self._command("sandbox " + json.dumps(request))
        return json.loads(self._read_line(600.0))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                self._command("stop")
                self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            self._process = None
            if self._log is not None:
                self._log.close()

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
